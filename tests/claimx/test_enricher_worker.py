"""claimx-enricher as a real `vpipe-worker` process on the test broker, against the fake API."""

from __future__ import annotations

import orjson
from enricher_support import task_of

from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault
from vpipe_testing.kafka import produce, read_all

ENRICHMENT = "claimx.enrichment.pending"
SUCCESSFUL_ROWS = [*range(1, 15), 16, 21]  # 15: unknown type; 17-20: dead
DEAD_ROWS = [17, 18, 19, 20]
FILE_ROWS = [4, 5, 6, 13, 16]
LATE = ("outage-8", "outage-9")


def header(message, name: str) -> str | None:
    return next((v.decode() for k, v in message.headers() or [] if k == name), None)


def test_enricher_worker_fixture_events_and_an_api_outage(claimx_kafka, start_worker):
    with FakeClaimxApi() as fake:
        worker = start_worker(
            "claimx-enricher",
            claimx_kafka,
            CLAIMX_API_URL=fake.url,
            CLAIMX_API_TOKEN=fake.token,
            CLAIMX_API_SENDER_USERNAME="vpipe-test",
        )
        produce(claimx_kafka, ENRICHMENT, [orjson.dumps(task_of(n)) for n in range(1, 22)])

        rows = read_all(claimx_kafka, "claimx.entities.rows", expect=len(SUCCESSFUL_ROWS))
        messages = [orjson.loads(m.value()) for m in rows]
        expected_ids = {task_of(n)["event_id"] for n in SUCCESSFUL_ROWS}
        assert {m["event_id"] for m in messages} == expected_ids
        assert all(m.key().decode() == orjson.loads(m.value())["event_id"] for m in rows)

        tasks = read_all(claimx_kafka, "claimx.downloads.pending", expect=len(FILE_ROWS))
        paths = sorted(orjson.loads(m.value())["blob_path"] for m in tasks)
        assert paths == [
            "5517342/media/98810452_IMG_0001.jpg",
            "5517342/media/98810452_IMG_0001.jpg",  # row 16 repeats row 4 (same event id)
            "5517342/media/98810467_IMG_0001.jpg",
            "5517342/media/98810473_walkthrough_kitchen.mp4",
            "5517342/media/98810481_Dishwasher_Invoice.pdf",
        ]

        dead = read_all(claimx_kafka, "claimx.dlq", expect=len(DEAD_ROWS))
        assert sorted(orjson.loads(m.value())["event_id"] for m in dead) == sorted(
            task_of(n)["event_id"] for n in DEAD_ROWS
        )
        assert {header(m, "vpipe_error_category") for m in dead} == {"permanent"}
        errors = " | ".join(header(m, "vpipe_error") or "" for m in dead)
        assert "HTTP 404" in errors and "98899999 is not in the E2 response" in errors

        # an outage: every API call answers 500; the circuit opens, events go to the first tier
        fake.inject(r"/export/project/", Fault.http(500), times=None)
        produce(claimx_kafka, ENRICHMENT, outage_tasks(range(8)))
        first_wave = read_all(claimx_kafka, "claimx.retry.1s", expect=8)
        assert {header(m, "vpipe_error_category") for m in first_wave} == {"transient"}
        assert {header(m, "vpipe_target_topic") for m in first_wave} == {ENRICHMENT}
        calls = fake.count(r"/export/project/")
        produce(claimx_kafka, ENRICHMENT, outage_tasks(range(8, 10)))
        retried = read_all(claimx_kafka, "claimx.retry.1s", expect=10)
        second_wave = [m for m in retried if orjson.loads(m.value())["event_id"] in LATE]
        assert ["circuit_open" in (header(m, "vpipe_error") or "") for m in second_wave] == [
            True,
            True,
        ]
        assert fake.count(r"/export/project/") == calls, "no call while the circuit is open"
        assert worker.probe("/healthz")[0] == 200
        metrics = worker.metrics_text()
        assert 'vpipe_circuit_state{name="claimx_api"} 1.0' in metrics
        assert "vpipe_claimx_project_cache_hits_total" in metrics


def outage_tasks(numbers: range) -> list[bytes]:
    """PROJECT_CREATED tasks for distinct projects (one E1 call each)."""
    return [
        orjson.dumps(task_of(1, event_id=f"outage-{n}", project_id=str(7000000 + n)))
        for n in numbers
    ]
