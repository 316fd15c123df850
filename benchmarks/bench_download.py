"""Large-file download: `Downloader` against a bare urllib3 streaming copy, from moto (S3).

One object of `--size-mb` MiB (random bytes) is put into a moto S3 server running in this
process and fetched through a real presigned URL. Every run happens in a child process of its
own, so its peak RSS (`ru_maxrss`) is the download's alone; the children run alternately:

- `baseline`: urllib3 `PoolManager` GET, `stream()` in 1 MiB pieces into a file; no checks.
- `single`: `Downloader.download` with the range threshold above the size (one stream; URL
  policy, sha256 while streaming, length check, fsync, atomic rename).
- `ranged`: `Downloader.download` with the production settings (ranges of `--chunk-mb` from
  `--threshold-mb` on), which is what a large video goes through.

moto serves every request from Python, so it bounds all contestants alike; `ranged` also pays
moto's cost of reading the whole stored object for every range request. `--server local`
serves the object from memory with the test file server instead (ranges cost their own size),
which shows the downloader's ranged overhead without moto's.

    python -m benchmarks.bench_download [--size-mb 200] [--repeat 2] [--server moto|local]
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
CONTESTANTS = ("baseline", "single", "ranged")
DEFAULT_SIZE_MB = 200
DEFAULT_REPEAT = 2
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


def _baseline(url: str, out: Path) -> tuple[int, str | None]:
    import urllib3

    pool = urllib3.PoolManager()
    response = pool.request("GET", url, preload_content=False, decode_content=False)
    size = 0
    with out.open("wb") as file:
        for piece in response.stream(MIB, decode_content=False):
            file.write(piece)
            size += len(piece)
    response.release_conn()
    return size, None


def _downloader(url: str, out: Path, args: argparse.Namespace, ranged: bool) -> tuple[int, str]:
    from urllib.parse import urlsplit

    from vpipe_core.transfer.download import Downloader
    from vpipe_core.transfer.policy import UrlPolicy
    from vpipe_core.transfer.rules import TypeRules

    host = urlsplit(url).hostname or ""
    threshold = args.threshold_mb if ranged else args.size_mb + 1
    downloader = Downloader(
        UrlPolicy(frozenset({host})),
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
    if args.child == "baseline":
        size, digest = _baseline(args.url, out / "baseline.bin")
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
    from vpipe_core.testing.s3 import LocalS3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    s3 = LocalS3(BUCKET).start()
    source = workdir / "source.bin"
    digest = write_object(source, size)
    s3.client.upload_file(str(source), BUCKET, KEY, ExtraArgs={"ContentType": "video/mp4"})
    source.unlink()
    return s3.presign(KEY), digest, s3


def local_url(size: int, workdir: Path) -> tuple[str, str, Any]:
    """(url, sha256, file server) for `size` random bytes served from memory."""
    from vpipe_core.testing.http_files import FileServer, Route

    body = os.urandom(size)
    server = FileServer().start()
    server.add("/media/walkthrough.mp4", Route(body, "video/mp4"))
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


def summarise(results: list[dict[str, Any]], expected_sha: str) -> None:
    rates: dict[str, float] = {}
    print(f"{'contestant':<10} {'MiB/s (median)':>15} {'runs':>24} {'peak RSS MiB':>13}")
    for contestant in CONTESTANTS:
        runs = [r for r in results if r["contestant"] == contestant]
        each = [r["bytes"] / MIB / r["seconds"] for r in runs]
        rates[contestant] = statistics.median(each)
        peak = max(r["rss_peak_mib"] for r in runs)
        before = max(r["rss_before_mib"] for r in runs)
        shown = ", ".join(f"{rate:.0f}" for rate in each)
        print(
            f"{contestant:<10} {rates[contestant]:>15.1f} {shown:>24} "
            f"{peak:>7.1f} (+{peak - before:.1f})"
        )
        for run in runs:
            if run["sha256"] is not None and run["sha256"] != expected_sha:
                raise SystemExit(f"{contestant}: checksum mismatch")
    for contestant in ("single", "ranged"):
        print(f"ratio {contestant}/baseline: {rates[contestant] / rates['baseline']:.2f}")


def _rotated(items: tuple[str, ...], by: int) -> tuple[str, ...]:
    """Each repeat starts with another contestant, so none always runs first or last."""
    shift = by % len(items)
    return items[shift:] + items[:shift]


def run_parent(args: argparse.Namespace) -> int:
    size = int(args.size_mb * MIB)
    with tempfile.TemporaryDirectory(prefix="bench-download-", dir=args.workdir) as directory:
        workdir = Path(directory)
        source = presigned_url if args.server == "moto" else local_url
        url, digest, server = source(size, workdir)
        try:
            print(f"object: {args.size_mb:g} MiB from {args.server} at {url.split('/')[2]}")
            print(f"ranged: threshold {args.threshold_mb:g} MiB, chunks {args.chunk_mb:g} MiB")
            results = [
                run_one(contestant, url, args, workdir)
                for repeat in range(args.repeat)
                for contestant in _rotated(CONTESTANTS, repeat)
            ]
        finally:
            server.stop()
        summarise(results, digest)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=float, default=DEFAULT_SIZE_MB, help="object size, MiB")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs per contestant")
    parser.add_argument("--threshold-mb", type=float, default=50.0, help="range threshold, MiB")
    parser.add_argument("--chunk-mb", type=float, default=20.0, help="range chunk, MiB")
    parser.add_argument("--server", choices=("moto", "local"), default="moto", help="source")
    parser.add_argument("--workdir", default=None, help="where files are written (default: tmp)")
    parser.add_argument("--child", choices=CONTESTANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_child(args) if args.child else run_parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
