"""Helpers of the plugin's tests: a fake ClaimX project with two mitigation assignments, fixture
task events pointing at them, and the claimx-enricher wired to the fake API with a plugin set."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import attrs
import orjson

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.enricher import ClaimxEnricher
from vpipe_claimx.events import enrichment_task, event_from_row
from vpipe_claimx.fetching import Fetcher
from vpipe_claimx.project_cache import ProjectCache
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core.outcome import Done, Output
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_core.record import Record
from vpipe_core.values.timestamps import iso_utc
from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.claimx.fake_data import FakeProject, fixture_project

PLUGIN = "claimx_mitigation_tracker"
TOPIC = "claimx.mitigation.task.completed"
CREATED_AT = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 2, 4, 12, 0, 5, tzinfo=UTC)
WATER = "7100001"  # template 25367, form with two photos
FIRE = "7100002"  # template 24454, no photos in the form: media by description
FIRE_MEDIA_ID = 98810599
FIRE_DESCRIPTION = "Custom Task: Property GHRN Fire/Smoke Mitigation Assignment"


def mitigation_assignment(assignment_id: str, template_id: int, name: str) -> dict[str, Any]:
    body = copy.deepcopy(fixture_project().assignments["6021187"])
    body.update(assignmentId=int(assignment_id), taskId=template_id, taskName=name)
    body["customTask"].update(taskId=template_id, name=name)
    return body


def mitigation_project() -> FakeProject:
    """Fixture project 5517342 plus a water and a fire/smoke mitigation assignment."""
    project = fixture_project()
    water = mitigation_assignment(WATER, 25367, "Water Mitigation")
    photos = {"type": "image", "claimMediaIds": [98810467, 98810452]}
    water["response"] = {
        "groups": [
            {
                "name": "Drying",
                "questionAndAnswers": [
                    {"questionText": "Moisture photos", "responseAnswerExport": photos}
                ],
            }
        ]
    }
    fire = mitigation_assignment(FIRE, 24454, "Fire/Smoke Mitigation")
    fire["response"] = {"groups": []}
    fire_photo = {**project.media[0], "mediaID": FIRE_MEDIA_ID, "mediaName": "soot.jpg"}
    fire_photo["mediaDescription"] = FIRE_DESCRIPTION
    return attrs.evolve(
        project,
        assignments={**project.assignments, WATER: water, FIRE: fire},
        media=(*project.media, fire_photo),
    )


def fixture_row(number: int) -> dict[str, Any]:
    text = resources.files("vpipe_claimx").joinpath("data/claimx_events.jsonl").read_text()
    row: dict[str, Any] = json.loads(text.splitlines()[number - 1])
    row.pop("_case", None)
    return row


def task_event(assignment_id: str, completed: bool = True) -> dict[str, Any]:
    """Fixture row 9 (task completed) or 8 (assigned) for `assignment_id`."""
    row = {**fixture_row(9 if completed else 8), "taskAssignmentId": assignment_id}
    return enrichment_task(event_from_row(row), iso_utc(CREATED_AT))


def records(tasks: Iterable[Mapping[str, Any]]) -> list[Record]:
    return [
        Record(ENRICHMENT, 0, offset, str(task["event_id"]).encode(), orjson.dumps(task), [])
        for offset, task in enumerate(tasks)
    ]


def make_enricher(fake: FakeClaimxApi, plugins: PluginSet) -> ClaimxEnricher:
    """The claimx-enricher's handler as `vpipe_claimx.enricher.build` makes it."""
    api = ClaimxApi(fake.url, fake.token, sender_username="vpipe-test")
    return ClaimxEnricher(
        api, ProjectCache(1800), Fetcher(4), plugins, batch_size=100, clock=lambda: NOW
    )


def outputs_on(outcome: object, topic: str) -> list[Output]:
    assert isinstance(outcome, Done), outcome
    return [output for output in outcome.outputs if output.topic == topic]
