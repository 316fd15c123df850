"""claimx-enricher handler against the fake ClaimX API over HTTP (claimx.md §3, §7, §8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest
from enricher_support import (
    NOW,
    committed,
    downloads,
    entities,
    make_enricher,
    record,
    records,
    task_of,
)

from vpipe_claimx import rows
from vpipe_claimx.project_cache import ProjectCache
from vpipe_claimx.rows import Stamp
from vpipe_core.ops import metrics
from vpipe_core.outcome import Category, Dead, Done, Retry
from vpipe_core.transfer.presigned import stored_url
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault
from vpipe_testing.claimx.fake_data import fixture_project

E1 = r"/export/project/\d+$"
E2 = r"/export/project/\d+/media$"
E3 = r"/customTasks/assignment/"
E4 = r"/data$"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


def sample(metric: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(metric, labels) or 0.0


def fetched_at(row: dict) -> datetime:
    return datetime.fromisoformat(row["last_enriched_at"].replace("Z", "+00:00"))


def expected_project(task: dict, message: dict, mfn: str | None = None) -> rows.EntityRows:
    """The rows the builders give for the fixture E1 at the fetch time the message carries."""
    stamp = Stamp(task["event_id"], task["ingested_at"])
    at = fetched_at(message["projects"][0])
    return rows.project_entities(fixture_project().export, stamp, at, mfn)


# --------------------------------------------------------------------------- event types


def test_project_created_gives_the_full_project_and_its_contacts(fake):
    task = task_of(1)
    (outcome,) = make_enricher(fake).handle_batch([record(task)])
    message = entities(outcome)
    expected = expected_project(task, message)
    assert message["event_id"] == message["trace_id"] == task["event_id"]
    assert (message["event_type"], message["project_id"]) == ("PROJECT_CREATED", "5517342")
    assert message["projects"] == expected.projects
    assert message["contacts"] == expected.contacts and len(expected.contacts) == 4
    assert downloads(outcome) == []
    (output,) = outcome.outputs
    assert output.key == task["event_id"].encode()
    assert ("trace_id", task["event_id"].encode()) in output.headers


def test_mfn_event_value_wins(fake):
    task = task_of(14)  # snake_case row, MFN HOCL_8K2P4Q-R1
    (outcome,) = make_enricher(fake).handle_batch([record(task)])
    message = entities(outcome)
    assert message["projects"] == expected_project(task, message, "HOCL_8K2P4Q-R1").projects


def test_every_fixture_event_type_in_one_batch(fake):
    tasks = [task_of(n) for n in range(1, 13)]
    enricher = make_enricher(fake)
    outcomes = enricher.handle_batch(records(tasks))
    assert all(isinstance(o, Done) for o in outcomes), outcomes
    messages = [entities(o) for o in outcomes]
    by_type: dict[str, list[dict]] = {}
    for message in messages:
        by_type.setdefault(message["event_type"], []).append(message)
    # the cache is empty: every event carries the project pre-flight (full row + 4 contacts)
    for message in messages:
        full = [p for p in message["projects"] if not p.get("_partial")]
        assert len(full) == 1 and len(message["contacts"]) >= 4, message["event_type"]
    partial = {
        t: [p for p in by_type[t][0]["projects"] if p.get("_partial")]
        for t in (
            "POLICYHOLDER_INVITED",
            "POLICYHOLDER_JOINED",
            "PROJECT_AUTO_XA_LINKING_UNSUCCESSFUL",
        )
    }
    assert partial["POLICYHOLDER_INVITED"][0]["policyholder_invited_at"] == (
        "2026-02-03T10:06:30.041227Z"
    )
    assert partial["POLICYHOLDER_JOINED"][0]["policyholder_joined_at"] == (
        "2026-02-03T14:48:02.665019Z"
    )
    assert partial["PROJECT_AUTO_XA_LINKING_UNSUCCESSFUL"][0]["xa_autolink_fail"] is True
    files = by_type["PROJECT_FILE_ADDED"]
    assert [m["media"][0]["media_id"] for m in files] == ["98810452", "98810467", "98810473"]
    for message in by_type["CUSTOM_TASK_ASSIGNED"] + by_type["CUSTOM_TASK_COMPLETED"]:
        assert [t["assignment_id"] for t in message["tasks"]] == [6021187]
        assert [t["task_id"] for t in message["task_templates"]] == [27019]
        assert [link["link_id"] for link in message["external_links"]] == [412907]
        linked = [c for c in message["contacts"] if c.get("task_assignment_id")]
        assert [c["contact_email"] for c in linked] == ["elena.okafor@mail.example"]
    for message in by_type["VIDEO_COLLABORATION_INVITE_SENT"]:
        assert message["video_collab"][0]["total_time_seconds"] == "1587.25"
    # each distinct call once per batch
    assert (fake.count(E1), fake.count(E2), fake.count(E3), fake.count(E4)) == (1, 1, 1, 1)
    (e2,) = [r for r in fake.requests if r.path.endswith("/media")]
    assert e2.query["mediaIds"] == "98810452,98810467,98810473"


def test_media_events_give_unique_download_tasks(fake):
    tasks = [task_of(4), task_of(5), task_of(6)]
    outcomes = make_enricher(fake).handle_batch(records(tasks))
    found = [d for outcome in outcomes for d in downloads(outcome)]
    assert [d["blob_path"] for d in found] == [
        "5517342/media/98810452_IMG_0001.jpg",
        "5517342/media/98810467_IMG_0001.jpg",
        "5517342/media/98810473_walkthrough_kitchen.mp4",
    ]
    first = found[0]
    assert set(first) == {
        "media_id",
        "project_id",
        "download_url",
        "blob_path",
        "file_type",
        "file_name",
        "source_event_id",
        "expires_at",
        "refresh_count",
        "retry_count",
        "metadata",
    }
    assert first["source_event_id"] == tasks[0]["event_id"]
    assert first["file_name"] == "IMG_0001.jpg" and first["file_type"] == "jpg"
    assert (first["refresh_count"], first["retry_count"], first["metadata"]) == (0, 0, {})
    media_row = entities(outcomes[0])["media"][0]
    assert stored_url(first["download_url"]) == media_row["full_download_link"], "no signature"
    (output,) = [o for o in outcomes[0].outputs if o.topic == "claimx.downloads.pending"]
    assert output.key == first["media_id"].encode(), "keyed by the download dedup key"
    assert ("media_id", b"98810452") in output.headers


@pytest.mark.parametrize(("count", "filtered"), [(5, True), (7, False)])
def test_n_media_of_one_project_cost_one_e2_call(fake, count, filtered):
    ids = [str(item["mediaID"]) for item in fixture_project().media][:count]
    tasks = [task_of(4, media_id=media_id, event_id=f"ev-{media_id}") for media_id in ids]
    outcomes = make_enricher(fake).handle_batch(records(tasks))
    assert [entities(o)["media"][0]["media_id"] for o in outcomes] == ids
    assert fake.count(E2) == 1
    (e2,) = [r for r in fake.requests if r.path.endswith("/media")]
    assert ("mediaIds" in e2.query) is filtered


def test_media_without_download_link_gives_a_row_and_no_download(fake):
    fake.inject(E2, Fault.answer(orjson.dumps([{"mediaID": 98810452, "mediaName": "a.jpg"}])))
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(4))])
    assert entities(outcome)["media"][0]["full_download_link"] is None
    assert downloads(outcome) == []


def test_empty_video_report_is_a_success_without_row(fake):
    fake.inject(E4, Fault.answer(b'{"data": []}'))
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(11))])
    assert entities(outcome)["video_collab"] == []


# --------------------------------------------------------------------------- failures


def test_unknown_event_type_is_done_without_outputs_and_counted_skipped(fake):
    before = sample("vpipe_claimx_events_total", event_type="PROJECT_ARCHIVED", outcome="skipped")
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(15))])
    assert outcome == Done()
    after = sample("vpipe_claimx_events_total", event_type="PROJECT_ARCHIVED", outcome="skipped")
    assert after == before + 1 and fake.count() == 0


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        (task_of(18), "task_assignment_id: expected digits only"),
        (task_of(19), "project_id: required"),
        (task_of(8, task_assignment_id=None), "CUSTOM_TASK_ASSIGNED needs task_assignment_id"),
        (task_of(4, media_id=None), "PROJECT_FILE_ADDED needs media_id"),
        (task_of(2, master_file_name=None), "PROJECT_MFN_ADDED needs master_file_name"),
        (b"{not json", "not JSON"),
        (b"[1]", "expected a JSON object"),
    ],
)
def test_invalid_tasks_are_dead_before_any_call(fake, task, reason):
    (outcome,) = make_enricher(fake).handle_batch([record(task)])
    assert isinstance(outcome, Dead) and outcome.category == Category.PERMANENT
    assert outcome.error.startswith("invalid enrichment task") and reason in outcome.error
    assert fake.count() == 0


def test_unknown_project_404_is_dead_with_the_reason(fake):
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(17))])
    assert isinstance(outcome, Dead) and outcome.category == Category.PERMANENT
    assert "E1" in outcome.error and "404" in outcome.error
    assert fake.count(E2) == fake.count(E3) == fake.count(E4) == 0


def test_media_absent_from_e2_is_dead(fake):
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(20))])
    assert isinstance(outcome, Dead)
    assert outcome.error == "media 98899999 is not in the E2 response for project 5517342"


def test_e1_without_project_id_is_dead(fake):
    fake.inject(E1, Fault.answer(b'{"data": {"project": {"projectId": null}}}'))
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(1))])
    assert isinstance(outcome, Dead) and "returned no projectId" in outcome.error


def test_429_is_retried_no_earlier_than_retry_after(fake):
    fake.inject(E1, Fault.http(429, retry_after=30))
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(1))])
    assert isinstance(outcome, Retry) and outcome.category == Category.TRANSIENT
    assert "429" in outcome.error
    assert outcome.not_before == NOW + timedelta(seconds=30)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_transient_retries(fake, status):
    fake.inject(E3, Fault.http(status))
    task = task_of(8)
    cache = ProjectCache(1800)
    cache.preload(["5517342"])  # skip the pre-flight
    (outcome,) = make_enricher(fake, cache=cache).handle_batch([record(task)])
    assert isinstance(outcome, Retry) and outcome.category == Category.TRANSIENT
    assert outcome.not_before is None and str(status) in outcome.error


def test_wrong_token_is_retried_as_auth(fake):
    enricher = make_enricher(fake, token="d3Jvbmc6dG9rZW4=")
    (outcome,) = enricher.handle_batch([record(task_of(1))])
    assert isinstance(outcome, Retry) and outcome.category == Category.AUTH
    assert "401" in outcome.error


def test_failure_of_the_event_call_leaves_other_events_done(fake):
    fake.inject(E4, Fault.http(500))
    outcomes = make_enricher(fake).handle_batch(records([task_of(3), task_of(10), task_of(12)]))
    assert [type(o) for o in outcomes] == [Done, Retry, Done]


def test_pre_flight_failure_skips_the_event_call(fake):
    fake.inject(E1, Fault.http(503))
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(9))])
    assert isinstance(outcome, Retry)
    assert fake.count(E3) == 0


def test_a_burst_of_5xx_opens_the_circuit_and_events_keep_retrying(fake):
    fake.inject(E1, Fault.http(500), times=None)
    enricher = make_enricher(fake)
    errors = []
    for attempt in range(8):
        (outcome,) = enricher.handle_batch([record(task_of(1), offset=attempt)])
        assert isinstance(outcome, Retry) and outcome.category == Category.TRANSIENT
        errors.append(outcome.error)
    assert fake.count(E1) == 5, "the circuit stops calling after 5 consecutive failures"
    assert all("circuit_open" in error for error in errors[5:])
    assert sample("vpipe_circuit_state", name="claimx_api") == 1


def test_unexpected_exception_is_transient(fake, monkeypatch):
    from vpipe_claimx import handlers

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(handlers.rows, "media_row", broken)
    (outcome,) = make_enricher(fake).handle_batch([record(task_of(4))])
    assert isinstance(outcome, Retry) and outcome.category == Category.TRANSIENT
    assert outcome.error == "unexpected KeyError: 'boom'"


# --------------------------------------------------------------------------- project cache


def test_cache_is_filled_only_after_commit_and_then_skips_the_pre_flight(fake):
    enricher = make_enricher(fake)
    first = [record(task_of(3), offset=0)]
    enricher.handle_batch(first)
    enricher.handle_batch([record(task_of(7), offset=1)])
    assert fake.count(E1) == 2, "not committed yet: pre-flight again"
    committed(enricher, first)
    (outcome,) = enricher.handle_batch([record(task_of(12), offset=2)])
    assert fake.count(E1) == 2
    message = entities(outcome)
    assert message["contacts"] == []
    assert [p.get("_partial") for p in message["projects"]] == [True]


def test_cache_never_suppresses_required_rows(fake):
    enricher = make_enricher(fake)
    batch = records([task_of(1)])
    enricher.handle_batch(batch)
    committed(enricher, batch)
    outcomes = enricher.handle_batch(records([task_of(1), task_of(2), task_of(3), task_of(12)]))
    assert fake.count(E1) == 2, "PROJECT_CREATED/PROJECT_MFN_ADDED always call E1"
    created, mfn, invited, xa = (entities(o) for o in outcomes)
    assert len(created["projects"]) == 1 and len(created["contacts"]) == 4
    assert mfn["projects"][0]["master_file_name"] == "HOCL_8K2P4Q"
    assert invited["projects"][0]["policyholder_invited_at"]
    assert xa["projects"][0]["xa_autolink_fail"] is True


def test_ttl_zero_calls_e1_for_every_batch(fake):
    enricher = make_enricher(fake, ttl_s=0)
    for offset in range(3):
        batch = [record(task_of(3), offset=offset)]
        enricher.handle_batch(batch)
        committed(enricher, batch)
    assert fake.count(E1) == 3


def test_failed_events_do_not_fill_the_cache(fake):
    enricher = make_enricher(fake)
    batch = [record(task_of(20), offset=0)]  # E1 ok, media absent: dead
    (outcome,) = enricher.handle_batch(batch)
    assert isinstance(outcome, Dead)
    committed(enricher, batch)
    enricher.handle_batch([record(task_of(3), offset=1)])
    assert fake.count(E1) == 2


def test_entity_messages_are_accepted_by_the_entity_writer(fake):
    from vpipe_claimx.entity_writer import EntityMessageRows
    from vpipe_core.record import Record

    successful = [*range(1, 15), 16, 21]
    outcomes = make_enricher(fake).handle_batch(records([task_of(n) for n in successful]))
    values = [o.value for outcome in outcomes for o in outcome.outputs if o.topic.endswith("rows")]
    converted = EntityMessageRows()(
        [Record("claimx.entities.rows", 0, n, None, v) for n, v in enumerate(values)]
    )
    assert len(converted) == len(successful)
    assert all(isinstance(rows_of_record, list) for rows_of_record in converted), converted
