"""The itel-cabinet-tracking handler against the fake ClaimX API: what it publishes for a
completed task, what it only logs, and where each failure goes."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from claimx_itel_trigger.tracking import TrackingHandler
from itel_support import COMPLETED, NOW, TRACKING

from vpipe_claimx.api import ClaimxApi
from vpipe_core.outcome import Category, Dead, Done, Retry
from vpipe_core.record import Record
from vpipe_testing.claimx.fake_api import Fault

TRACKED = {
    "trigger_name": "itel_cabinet_repair",
    "event_id": "evt-9",
    "event_type": "CUSTOM_TASK_COMPLETED",
    "project_id": "5517342",
    "task_id": 27019,
    "assignment_id": 6021187,
    "task_name": "iTel Cabinet Repair Form",
    "task_status": "COMPLETED",
    "timestamp": "2026-02-04T09:26:20+00:00",
    "task": {},
    "project": {},
}


@pytest.fixture
def handler(fake):
    tracking = TrackingHandler(ClaimxApi(fake.url, fake.token), clock=lambda: NOW)
    yield tracking
    tracking.close()


def record(value: dict | bytes) -> Record:
    body = value if isinstance(value, bytes) else orjson.dumps(value)
    return Record(TRACKING, 0, 0, b"evt-9", body, [])


def test_a_completed_task_publishes_the_parsed_form(handler, fake):
    outcome = handler.handle(record(TRACKED))
    assert isinstance(outcome, Done)
    (output,) = outcome.outputs
    assert (output.topic, output.key) == (COMPLETED, b"evt-9")
    published = orjson.loads(output.value)
    assert {key: published[key] for key in ("event_id", "assignment_id", "project_id")} == {
        "event_id": "evt-9",
        "assignment_id": 6021187,
        "project_id": "5517342",
    }
    assert published["event_timestamp"] == TRACKED["timestamp"]
    assert published["published_at"] == NOW.isoformat()
    assert published["task_id"] == 27019 and published["source"]
    assert published["submission"]["lower_cabinets_lf"] == 14.5
    assert [a["media_id"] for a in published["attachments"]] == ["98810495", "98810496"]
    assert all(a["download_link"].startswith(fake.origin) for a in published["attachments"])
    assert published["readable_report"][0]["question"] == "Countertops (linear feet)"
    assert fake.count(r"/customTasks/assignment/6021187") == 1
    (e2,) = [r for r in fake.requests if r.path.endswith("/media")]
    assert e2.query["mediaIds"] == "98810495,98810496"


@pytest.mark.parametrize("status", ["ASSIGNED", "IN_PROGRESS", "CANCELLED"])
def test_other_statuses_are_done_without_calls(handler, fake, status):
    outcome = handler.handle(record({**TRACKED, "task_status": status}))
    assert outcome == Done()
    assert fake.count() == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({**TRACKED, "assignment_id": None}), "missing assignment_id"),
    ],
)
def test_an_unusable_record_is_dead_with_its_reason(handler, value, reason):
    outcome = handler.handle(record(value))
    assert isinstance(outcome, Dead) and reason in outcome.error
    assert outcome.error.startswith("invalid iTel tracking record")


def test_an_unknown_assignment_is_dead(handler):
    outcome = handler.handle(record({**TRACKED, "assignment_id": 6021999}))
    assert isinstance(outcome, Dead) and outcome.category == Category.PERMANENT
    assert "404" in outcome.error


def test_a_rate_limit_retries_after_the_servers_delay(handler, fake):
    fake.inject(r"/customTasks/assignment/", Fault.http(429, retry_after=7))
    outcome = handler.handle(record(TRACKED))
    assert isinstance(outcome, Retry) and outcome.category == Category.TRANSIENT
    assert outcome.not_before == NOW + timedelta(seconds=7)


def test_a_media_outage_retries_the_whole_record(handler, fake):
    fake.inject(r"/media$", Fault.http(503))
    outcome = handler.handle(record(TRACKED))
    assert isinstance(outcome, Retry) and "503" in outcome.error


def test_a_photo_missing_from_e2_is_sent_without_a_link(handler, fake, caplog):
    fake.ignore_media_filter = False
    project = fake.catalogue.project("5517342")
    assignment = project.assignments["6021187"]
    answers = assignment["response"]["groups"][2]["questionAndAnswers"]
    answers[2]["responseAnswerExport"]["claimMediaIds"].append(98899999)
    outcome = handler.handle(record(TRACKED))
    attachments = orjson.loads(outcome.outputs[0].value)["attachments"]
    assert [(a["media_id"], a["download_link"] is None) for a in attachments] == [
        ("98810495", False),
        ("98810496", False),
        ("98899999", True),
    ]
    assert "98899999 is not in the E2 response" in caplog.text
