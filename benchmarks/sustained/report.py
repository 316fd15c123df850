"""The figures of a run: per phase and domain offered / accepted / written and whether the
pipeline kept up; latency percentiles per stage and phase; RSS per worker; the time series as
CSV and JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.sustained.feed import Phase
from benchmarks.sustained.observe import Stage, Windows

KEPT_UP_SHARE = 0.9  # accepted and written in a phase, of the offered
ROW_FLUSH_S = 15.0  # rows trail their events by up to a Delta writer's batch timer (10 s)
BEHIND_LAG_S = 20.0  # a worker whose lag ends a phase above this, and above
BEHIND_GROWTH = 1.5  # this times its largest lag in the phase's first third, falls behind
WARM_UP_S = 60.0  # RSS growth is fitted after this

Series = Mapping[str, Sequence[tuple[float, float]]]  # name -> (seconds, value)


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(len(ordered) * share))])


@attrs.frozen
class PhaseFigures:
    phase: Phase
    domain: str
    offered: int
    accepted: int  # raw records the poller published, stamped in the phase
    written: int  # rows whose write time falls in the phase
    behind: tuple[tuple[str, float], ...]  # (worker, lag s at the phase end) falling behind

    def shortfalls(self) -> list[str]:
        found = []
        if self.accepted < KEPT_UP_SHARE * self.offered:
            found.append(f"the poller accepted {self.accepted / self.offered:.0%} of offered")
        if self.written < KEPT_UP_SHARE * self.offered - self.phase.rate * ROW_FLUSH_S:
            found.append(f"rows written {self.written / self.offered:.0%} of offered")
        found += [f"{worker} falling behind (lag {lag:.0f} s)" for worker, lag in self.behind]
        return found

    @property
    def kept_up(self) -> bool:
        return not self.shortfalls()

    def verdict(self) -> str:
        return "kept up" if self.kept_up else "CANNOT KEEP UP: " + "; ".join(self.shortfalls())


def falling_behind(phase: Phase, lag: Series, prefix: str) -> tuple[tuple[str, float], ...]:
    """Workers named `prefix…` whose consumer lag ends the phase high and still growing."""
    found = []
    for worker, points in sorted(lag.items()):
        inside = [(t, v) for t, v in points if phase.start_s <= t <= phase.end_s]
        if not worker.startswith(prefix) or not inside:
            continue
        first_third = phase.start_s + phase.seconds / 3
        early = max((v for t, v in inside if t < first_third), default=0.0)
        end = inside[-1][1]
        if end > BEHIND_LAG_S and end > BEHIND_GROWTH * early:
            found.append((worker, end))
    return tuple(found)


def phase_figures(
    phases: Sequence[Phase],
    offered: Mapping[str, Mapping[str, int]],
    stages: Sequence[Stage],
    windows: Windows,
    lag: Series,
) -> list[PhaseFigures]:
    figures = []
    for domain, by_phase in offered.items():
        raw = next(s for s in stages if s.domain == domain and s.raw).name
        row = [s for s in stages if s.domain == domain][-1].name
        for phase in phases:
            figures.append(
                PhaseFigures(
                    phase,
                    domain,
                    by_phase[phase.name],
                    len(windows.between(domain, raw, phase.start_s, phase.end_s)),
                    len(windows.between(domain, row, phase.start_s, phase.end_s)),
                    falling_behind(phase, lag, f"{domain}-"),
                )
            )
    return figures


def throughput_table(figures: Sequence[PhaseFigures]) -> list[str]:
    lines = [
        f"{'phase':6} {'domain':7} {'rate/s':>7} {'offered':>8} {'accepted':>9} {'written':>8} "
        f"{'rows/s':>7}  verdict"
    ]
    for f in figures:
        lines.append(
            f"{f.phase.name:6} {f.domain:7} {f.phase.rate:>7g} {f.offered:>8} {f.accepted:>9} "
            f"{f.written:>8} {f.written / f.phase.seconds:>7.1f}  {f.verdict()}"
        )
    return lines


def lag_table(phases: Sequence[Phase], lag: Series) -> list[str]:
    """The largest consumer lag (seconds) of each worker in each phase."""
    lines = [f"{'worker':28} " + " ".join(f"{p.name:>8}" for p in phases)]
    for worker, points in sorted(lag.items()):
        peaks = [
            max((v for t, v in points if p.start_s <= t <= p.end_s), default=float("nan"))
            for p in phases
        ]
        lines.append(f"{worker:28} " + " ".join(f"{v:>8.1f}" for v in peaks))
    return lines


def latency_rows(
    phases: Sequence[Phase], stages: Sequence[Stage], windows: Windows
) -> list[dict[str, Any]]:
    rows = []
    for stage in stages:
        for phase in phases:
            values = windows.between(stage.domain, stage.name, phase.start_s, phase.end_s)
            rows.append(
                {
                    "domain": stage.domain,
                    "stage": stage.name,
                    "phase": phase.name,
                    "records": len(values),
                    "p50": percentile(values, 0.5),
                    "p99": percentile(values, 0.99),
                    "p999": percentile(values, 0.999),
                }
            )
    return rows


def latency_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        f"{'domain':7} {'stage (event → output)':28} {'phase':6} {'records':>8} "
        f"{'p50 s':>7} {'p99 s':>7} {'p99.9 s':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r['domain']:7} {r['stage']:28} {r['phase']:6} {r['records']:>8} "
            f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['p999']:>8.2f}"
        )
    return lines


def rss_rows(series: Series, base: Phase) -> list[dict[str, Any]]:
    rows = []
    for worker, points in sorted(series.items()):
        values = [mb for _, mb in points if mb > 0]
        if not values:
            continue
        steady = [(t, mb) for t, mb in points if WARM_UP_S <= t < base.end_s and mb > 0]
        rows.append(
            {
                "worker": worker,
                "first_mb": values[0],
                "peak_mb": max(values),
                "last_mb": values[-1],
                "growth_mb_per_min": _slope(steady) * 60,
            }
        )
    return rows


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope (MB per second); 0 with fewer than 3 points."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def rss_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        f"{'worker':28} {'first MB':>9} {'peak MB':>8} {'last MB':>8} {'base-phase growth':>18}"
    ]
    for r in rows:
        lines.append(
            f"{r['worker']:28} {r['first_mb']:>9.0f} {r['peak_mb']:>8.0f} {r['last_mb']:>8.0f} "
            f"{r['growth_mb_per_min']:>+12.2f} MB/min"
        )
    return lines


def write_series(
    out: Path, stages: Sequence[Stage], windows: Windows, rss: Series, summary: dict[str, Any]
) -> tuple[Path, Path]:
    """sustained.csv (one row per stage and window, per worker and sample) and sustained.json
    (the summary with the same series)."""
    latency = []
    for stage in stages:
        for index, values in sorted(windows.samples.get((stage.domain, stage.name), {}).items()):
            latency.append(
                {
                    "kind": "latency",
                    "domain": stage.domain,
                    "name": stage.name,
                    "t_s": index * windows.window_s,
                    "records": len(values),
                    "p50": round(percentile(values, 0.5), 4),
                    "p99": round(percentile(values, 0.99), 4),
                    "p999": round(percentile(values, 0.999), 4),
                    "rss_mb": "",
                }
            )
    memory = [
        {"kind": "rss", "domain": "", "name": worker, "t_s": round(t, 1), "rss_mb": round(mb, 1)}
        for worker, points in sorted(rss.items())
        for t, mb in points
    ]
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "sustained.csv", out / "sustained.json"
    fields = ["kind", "domain", "name", "t_s", "records", "p50", "p99", "p999", "rss_mb"]
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields, restval="")
        writer.writeheader()
        writer.writerows([*latency, *memory])
    document = {**summary, "latency_windows": latency, "rss_samples": memory}
    json_path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    return csv_path, json_path
