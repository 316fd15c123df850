"""`claimx-enricher` throughput against the fake ClaimX API answering after a fixed latency,
compared with the ideal `concurrency / (latency * calls per event)` in the same run.

Two workloads, each on projects the enricher has not seen (no cache hits):
- `PROJECT_CREATED`: one E1 call per event;
- `VIDEO_COLLABORATION_COMPLETED`: the E1 pre-flight, then E4 (two calls one after the other).

The real enricher (`ClaimxEnricher.handle_batch`, batches of `CLAIMX_ENRICH_BATCH_SIZE`) runs
in this process with the real API client over HTTP; the server delays every answer.

    python -m benchmarks.bench_enricher [--events 2000] [--latency-ms 50] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.enricher import ClaimxEnricher
from vpipe_claimx.events import enrichment_task, event_from_row
from vpipe_claimx.fetching import Fetcher
from vpipe_claimx.project_cache import ProjectCache
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core.outcome import Done
from vpipe_core.plugins.manager import plugin_set_from_objects
from vpipe_core.record import Record
from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

FIRST_PROJECT = 8_000_001
BATCH_SIZE = 100
WORKLOADS = {"PROJECT_CREATED": 1, "VIDEO_COLLABORATION_COMPLETED": 2}  # event type → calls


def tasks(event_type: str, count: int, first_project: int) -> list[Record]:
    records = []
    for offset in range(count):
        row = {
            "eventType": event_type,
            "projectId": str(first_project + offset),
            "IngestionTime": "2026-02-04T10:00:00.0000000Z",
        }
        task = enrichment_task(event_from_row(row), iso_utc_now())
        records.append(Record(ENRICHMENT, 0, offset, None, orjson.dumps(task), []))
    return records


def run(api: ClaimxApi, concurrency: int, records: list[Record]) -> float:
    """Events per second through `handle_batch`; every outcome must be Done."""
    enricher = ClaimxEnricher(
        api, ProjectCache(0), Fetcher(concurrency), plugin_set_from_objects({}), BATCH_SIZE
    )
    started = time.perf_counter()
    for start in range(0, len(records), BATCH_SIZE):
        outcomes = enricher.handle_batch(records[start : start + BATCH_SIZE])
        failed = [o for o in outcomes if not isinstance(o, Done)]
        if failed:
            raise SystemExit(f"enrichment failed: {failed[0]}")
    return len(records) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=20, help="CLAIMX_API_CONCURRENCY")
    args = parser.parse_args()
    latency_s = args.latency_ms / 1000
    last = FIRST_PROJECT + args.events * len(WORKLOADS)
    print(f"fake API latency {args.latency_ms:g} ms, concurrency {args.concurrency}")
    with FakeClaimxApi(
        generate=lambda pid: pid.isdigit() and FIRST_PROJECT <= int(pid) < last
    ) as fake:
        fake.inject(r".", Fault.slow(latency_s), times=None)
        api = ClaimxApi(fake.url, fake.token, sender_username="bench", concurrency=args.concurrency)
        for number, (event_type, calls) in enumerate(WORKLOADS.items()):
            records = tasks(event_type, args.events, FIRST_PROJECT + number * args.events)
            rate = run(api, args.concurrency, records)
            ideal = args.concurrency / (latency_s * calls)
            print(
                f"  {event_type:32} {rate:8.0f} events/s   ideal {ideal:6.0f}   "
                f"ratio {rate / ideal:.2f}   ({calls} call(s) per event)"
            )
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
