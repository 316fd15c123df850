"""Large-file download: `Downloader` against a bare urllib3 streaming copy, from moto (S3).

One object of `--size-mb` MiB (random bytes) is put into a moto S3 server running in this
process and fetched through a real presigned URL. Every run happens in a child process of its
own, so its peak RSS (`ru_maxrss`) is the download's alone; the children run alternately:

- `baseline`: urllib3 `PoolManager` GET, `read1()` of up to 1 MiB at a time into a file; no
  checks, no hash, no fsync. The ratios are against it.
- `hashed`: the `baseline` copy computing the file's sha256 inline as well, which is the least
  a downloader that checks what it stored has to do. The downloader must hash (the inventory
  carries the checksum), and on loopback sha256 (≈ 1.75 GB/s here) is slower than the copy, so
  `single/hashed` is the downloader's own overhead and `single/baseline` carries the hash.
- `stream` (only with `--contestants`): the same GET through urllib3's `stream(1 MiB)`, the
  baseline of earlier reports. It is slower and far less steady than `read1` here: `stream`
  yields exactly 1 MiB pieces, so the file is written in aligned 1 MiB blocks, and on this VM
  such page-cache writes are sometimes 5-10x slower (see benchmarks/README.md).
- `single`: `Downloader.download` with the range threshold above the size (one stream; URL
  policy, sha256 while streaming, length check, fsync, atomic rename).
- `ranged`: `Downloader.download` with the production settings (ranges of `--chunk-mb` from
  `--threshold-mb` on), which is what a large video goes through.

moto serves every request from Python, so it bounds all contestants alike; `ranged` also pays
moto's cost of reading the whole stored object for every range request. `--server local`
serves the object from memory with the test file server instead (ranges cost their own size),
which shows the downloader's ranged overhead without moto's. `--link-mib-s N` paces every
response of the local server to N MiB/s, like a network link of that speed per connection: the
question there is whether the downloader keeps up with the link.

The contestants run in rounds, each round in another order. Besides the median rate of each,
the summary gives the ratio of every round's `single` (or `ranged`) to the same round's
`baseline`: the median of those pair ratios and their range are the figure to read, since a
slow or fast moment of the machine then moves both sides of a pair.

    python -m benchmarks.bench_download [--size-mb 200] [--repeat 5] [--server moto|local]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
BUCKET = "bench"
KEY = "media/walkthrough.mp4"
CONTESTANTS = ("baseline", "hashed", "stream", "single", "ranged")
DEFAULT_CONTESTANTS = ("baseline", "hashed", "single", "ranged")
REFERENCES = ("baseline", "hashed")  # the bare copies the others are compared with
DEFAULT_SIZE_MB = 200
DEFAULT_REPEAT = 5
CHILD_TIMEOUT_S = 900.0


# -- children ------------------------------------------------------------------------------


def _status_mib(field: str) -> float | None:
    """A `/proc/self/status` memory line (kB) in MiB, or None where there is no /proc."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _reset_peak_rss() -> None:
    """Start the peak (VmHWM) afresh at the current RSS (Linux: clear_refs "5")."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mib() -> float:
    """Peak RSS of this process image. `ru_maxrss` is the fallback only: on Linux it keeps
    the parent's high-water mark across fork + exec, which VmHWM does not."""
    peak = _status_mib("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _bare_copy(url: str, out: Path, *, whole_pieces: bool, hashed: bool) -> tuple[int, str | None]:
    """The bare urllib3 copy: `read1` pieces (`baseline`, `hashed`) or `stream`'s whole MiBs
    (`stream`); `hashed` also takes the sha256 of each piece as it is written."""
    import urllib3

    pool = urllib3.PoolManager()
    response = pool.request("GET", url, preload_content=False, decode_content=False)
    if whole_pieces:
        pieces = response.stream(MIB, decode_content=False)
    else:
        pieces = iter(lambda: response.read1(MIB, decode_content=False), b"")
    size = 0
    digest = hashlib.sha256() if hashed else None
    with out.open("wb") as file:
        for piece in pieces:
            file.write(piece)
            if digest is not None:
                digest.update(piece)
            size += len(piece)
    response.release_conn()
    return size, digest.hexdigest() if digest is not None else None


def _downloader(url: str, out: Path, args: argparse.Namespace, ranged: bool) -> tuple[int, str]:
    from urllib.parse import urlsplit

    from vpipe_core.transfer.download import Downloader
    from vpipe_core.transfer.policy import UrlPolicy
    from vpipe_core.transfer.rules import TypeRules

    host = urlsplit(url).hostname or ""
    threshold = args.threshold_mb if ranged else args.size_mb + 1
    downloader = Downloader(
        UrlPolicy(
            frozenset({host}),
            frozenset({host}),
            allowed_ports=frozenset({urlsplit(url).port or 443}),
        ),
        TypeRules(),
        out.parent / "cache",
        range_threshold_mb=threshold,
        range_chunk_mb=args.chunk_mb,
    )
    with downloader:
        result = downloader.download(url, "bench", "media/walkthrough.mp4")
    return result.bytes, result.sha256


def run_child(args: argparse.Namespace) -> int:
    out = Path(args.out)
    import urllib3  # noqa: F401  (imports are not the download's memory)

    from vpipe_core.transfer import download  # noqa: F401

    _reset_peak_rss()
    rss_before = _status_mib("VmRSS") or _peak_rss_mib()
    started = time.perf_counter()
    if args.child in ("baseline", "hashed", "stream"):
        copy = out / f"{args.child}.bin"
        size, digest = _bare_copy(
            args.url, copy, whole_pieces=args.child == "stream", hashed=args.child == "hashed"
        )
    else:
        size, digest = _downloader(args.url, out / "x.bin", args, args.child == "ranged")
    seconds = time.perf_counter() - started
    report = {
        "contestant": args.child,
        "bytes": size,
        "seconds": seconds,
        "sha256": digest,
        "rss_before_mib": rss_before,
        "rss_peak_mib": _peak_rss_mib(),
    }
    print(json.dumps(report))
    return 0


# -- parent --------------------------------------------------------------------------------


def write_object(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(0, size, 8 * MIB):
            piece = os.urandom(min(8 * MIB, size - file.tell()))
            digest.update(piece)
            file.write(piece)
    return digest.hexdigest()


def presigned_url(size: int, workdir: Path) -> tuple[str, str, Any]:
    """(url, sha256, moto server) for a fresh object of `size` bytes."""
    from vpipe_testing.s3 import LocalS3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    s3 = LocalS3(BUCKET).start()
    source = workdir / "source.bin"
    digest = write_object(source, size)
    s3.client.upload_file(str(source), BUCKET, KEY, ExtraArgs={"ContentType": "video/mp4"})
    source.unlink()
    return s3.presign(KEY), digest, s3


def local_url(size: int, workdir: Path, link_mib_s: float | None) -> tuple[str, str, Any]:
    """(url, sha256, file server) for `size` random bytes served from memory, each response
    paced to `link_mib_s` if set."""
    from vpipe_testing.http_files import FileServer, Route

    body = os.urandom(size)
    server = FileServer().start()
    rate = int(link_mib_s * MIB) if link_mib_s else None
    server.add("/media/walkthrough.mp4", Route(body, "video/mp4", rate_bytes_s=rate))
    return server.url("/media/walkthrough.mp4"), hashlib.sha256(body).hexdigest(), server


def run_one(contestant: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"{contestant}-", dir=workdir))
    os.sync()  # no run starts while the previous one's written pages are still flushing
    command = [sys.executable, "-m", "benchmarks.bench_download", "--child", contestant]
    command += ["--url", url, "--out", str(out), "--size-mb", str(args.size_mb)]
    command += ["--threshold-mb", str(args.threshold_mb), "--chunk-mb", str(args.chunk_mb)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{contestant} failed:\n{done.stderr}")
    for path in sorted(out.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    out.rmdir()
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _rate(run: dict[str, Any]) -> float:
    return float(run["bytes"]) / MIB / float(run["seconds"])


def _spread(values: list[float], digits: int) -> str:
    """`median (min-max)`."""
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def summarise(results: list[dict[str, Any]], expected_sha: str, contestants: list[str]) -> None:
    print(f"{'contestant':<10} {'MiB/s median (min-max)':>26}  {'peak RSS MiB':>13}  runs")
    for contestant in contestants:
        runs = [r for r in results if r["contestant"] == contestant]
        for run in runs:
            if run["sha256"] is not None and run["sha256"] != expected_sha:
                raise SystemExit(f"{contestant}: checksum mismatch")
        peak = max(r["rss_peak_mib"] for r in runs)
        before = max(r["rss_before_mib"] for r in runs)
        shown = ", ".join(f"{_rate(run):.0f}" for run in runs)
        rates = _spread([_rate(run) for run in runs], 0)
        print(f"{contestant:<10} {rates:>26}  {peak:>6.1f} (+{peak - before:.1f})  {shown}")
    for reference in (r for r in REFERENCES if r in contestants):
        for contestant in (c for c in contestants if c not in REFERENCES):
            pairs = _pair_ratios(results, contestant, reference)
            each = ", ".join(f"{ratio:.2f}" for ratio in pairs)
            label = f"{contestant}/{reference}"
            print(f"ratio {label:<16} per round: {_spread(pairs, 2)}  [{each}]")


def _pair_ratios(results: list[dict[str, Any]], contestant: str, reference: str) -> list[float]:
    """`contestant` over `reference`, one ratio per round (both ran in the same round)."""
    rounds = sorted({r["round"] for r in results})
    ratios = []
    for number in rounds:
        runs = {r["contestant"]: r for r in results if r["round"] == number}
        ratios.append(_rate(runs[contestant]) / _rate(runs[reference]))
    return ratios


def _rotated(items: tuple[str, ...], by: int) -> tuple[str, ...]:
    """Each repeat starts with another contestant, so none always runs first or last."""
    shift = by % len(items)
    return items[shift:] + items[:shift]


def run_parent(args: argparse.Namespace) -> int:
    size = int(args.size_mb * MIB)
    contestants = tuple(args.contestants.split(","))
    unknown = set(contestants) - set(CONTESTANTS)
    if unknown:
        raise SystemExit(f"unknown contestants {sorted(unknown)}; choose from {CONTESTANTS}")
    with tempfile.TemporaryDirectory(prefix="bench-download-", dir=args.workdir) as directory:
        workdir = Path(directory)
        if args.server == "moto":
            url, digest, server = presigned_url(size, workdir)
        else:
            url, digest, server = local_url(size, workdir, args.link_mib_s)
        try:
            print(f"object: {args.size_mb:g} MiB from {args.server} at {url.split('/')[2]}")
            if args.link_mib_s:
                print(f"link: every response paced to {args.link_mib_s:g} MiB/s")
            print(f"ranged: threshold {args.threshold_mb:g} MiB, chunks {args.chunk_mb:g} MiB")
            results = [
                {**run_one(contestant, url, args, workdir), "round": repeat}
                for repeat in range(args.repeat)
                for contestant in _rotated(contestants, repeat)
            ]
        finally:
            server.stop()
        summarise(results, digest, list(contestants))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=float, default=DEFAULT_SIZE_MB, help="object size, MiB")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs per contestant")
    parser.add_argument("--threshold-mb", type=float, default=50.0, help="range threshold, MiB")
    parser.add_argument("--chunk-mb", type=float, default=20.0, help="range chunk, MiB")
    parser.add_argument("--server", choices=("moto", "local"), default="moto", help="source")
    parser.add_argument(
        "--link-mib-s",
        type=float,
        default=None,
        help="with --server local: pace every response to this rate, like a network link",
    )
    parser.add_argument("--workdir", default=None, help="where files are written (default: tmp)")
    parser.add_argument(
        "--contestants",
        default=",".join(DEFAULT_CONTESTANTS),
        help=f"comma-separated, from {','.join(CONTESTANTS)}",
    )
    parser.add_argument("--child", choices=CONTESTANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_child(args) if args.child else run_parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
