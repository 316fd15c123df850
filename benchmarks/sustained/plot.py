"""The PNG: p99 latency per stage of each domain, throughput offered and written, and RSS per
worker, over the run, with the phases marked. matplotlib is a benchmark-only dependency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.sustained.feed import Phase
from benchmarks.sustained.observe import Stage, Windows
from benchmarks.sustained.report import Series, percentile


def plot(
    path: Path,
    title: str,
    phases: Sequence[Phase],
    stages: Sequence[Stage],
    windows: Windows,
    rss: Series,
    lag: Series,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(dict.fromkeys(stage.domain for stage in stages))
    panels = len(domains) + 3
    figure, axes = plt.subplots(panels, 1, figsize=(12, 4 * panels))
    for axis, domain in zip(axes, domains, strict=False):
        for stage in (s for s in stages if s.domain == domain):
            times, p99 = _series(windows, stage, 0.99)
            axis.plot(times, p99, label=stage.name)
        axis.set_yscale("log")
        axis.set_ylabel("p99 event → output (s)")
        axis.set_title(f"{domain}: p99 latency per stage ({windows.window_s:g} s windows)")
    _throughput(axes[len(domains)], domains, stages, windows)
    _lines(axes[-2], lag, "consumer lag (s)", "consumer lag per worker (largest partition)")
    _lines(axes[-1], rss, "RSS (MB, with children)", "RSS per worker instance")
    for axis in axes:
        for phase in phases:
            axis.axvline(phase.start_s, color="grey", linestyle=":", linewidth=0.8)
            axis.text(
                phase.start_s,
                1.0,
                f" {phase.name} {phase.rate:g}/s",
                fontsize=7,
                transform=axis.get_xaxis_transform(),
                va="top",
            )
        axis.set_xlabel("seconds since the first event offered")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.99))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _series(windows: Windows, stage: Stage, share: float) -> tuple[list[float], list[float]]:
    found = sorted(windows.samples.get((stage.domain, stage.name), {}).items())
    times = [(index + 0.5) * windows.window_s for index, _ in found]
    return times, [percentile(values, share) for _, values in found]


def _throughput(axis: Any, domains: Sequence[str], stages: Sequence[Stage], w: Windows) -> None:
    for domain in domains:
        ours = [s for s in stages if s.domain == domain]
        for stage, style in ((ours[0], "--"), (ours[-1], "-")):
            found = sorted(w.samples.get((stage.domain, stage.name), {}).items())
            times = [(index + 0.5) * w.window_s for index, _ in found]
            rates = [len(values) / w.window_s for _, values in found]
            axis.plot(times, rates, style, label=f"{domain} {stage.name}")
    axis.set_ylabel("records/s")
    axis.set_title("throughput: accepted by the poller (dashed) and rows written")


def _lines(axis: Any, series: Series, unit: str, title: str) -> None:
    for name, points in sorted(series.items()):
        axis.plot([t for t, _ in points], [v for _, v in points], label=name, linewidth=0.9)
    axis.set_ylabel(unit)
    axis.set_title(title)
