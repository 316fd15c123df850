"""ClaimX plugins at `enrichment_complete` (claimx.md §12): the context they see, publishing,
filtering downloads (never entity rows), the project always present, isolation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from enricher_support import (
    committed,
    downloads,
    entities,
    make_enricher,
    record,
    records,
    task_of,
)

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.plugin_context import ClaimxEnrichmentContext
from vpipe_claimx.project_cache import ProjectCache
from vpipe_core.outcome import Done
from vpipe_core.plugins.hookspecs import hookimpl
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo, PluginResult
from vpipe_testing.claimx.fake_api import FakeClaimxApi

TRACKING = "itel.cabinet.task.tracking"
E1 = r"/export/project/\d+$"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


class Plugin:
    def __init__(
        self,
        name: str,
        behaviour: Callable[[EnrichmentContext], PluginResult | None],
        **info: Any,
    ) -> None:
        self.name, self.behaviour, self.info = name, behaviour, info
        self.seen: list[EnrichmentContext] = []

    @hookimpl
    def vpipe_plugin_info(self) -> PluginInfo:
        return PluginInfo(name=self.name, version="1.0", **{"domains": "claimx", **self.info})

    @hookimpl
    def vpipe_enrich(self, ctx: EnrichmentContext) -> PluginResult | None:
        self.seen.append(ctx)
        return self.behaviour(ctx)


def itel_trigger(ctx: EnrichmentContext) -> PluginResult:
    assert isinstance(ctx, ClaimxEnrichmentContext)
    task = ctx.first_task()
    assert task is not None
    payload = {
        "event_id": ctx.event_id,
        "project_id": ctx.project_id,
        "task_id": task["task_id"],
        "assignment_id": ctx.get("assignment_id"),
        "task_status": ctx.get("task_status"),
        "claim_number": ctx.project["project_number"],
        "mfn": ctx.get("project.master_file_name"),
        "template": ctx.get("entities.task_templates.0.name"),
    }
    headers = {"x-task-id": str(task["task_id"]), "x-event-type": ctx.event_type}
    ctx.publish(TRACKING, payload, headers=headers)
    return PluginResult.ok(log="task {task_id} of {assignment_id}: {task_status}")


def test_a_plugin_sees_first_task_and_project_and_publishes(fake):
    plugin = Plugin(
        "itel_trigger",
        itel_trigger,
        event_types=("CUSTOM_TASK_ASSIGNED", "CUSTOM_TASK_COMPLETED"),
        conditions={"all": [{"field": "task_id", "in": [27019]}]},
    )
    enricher = make_enricher(fake, plugins={"itel_trigger": plugin})
    tasks = [task_of(8), task_of(9), task_of(4)]
    outcomes = enricher.handle_batch(records(tasks))
    assert len(plugin.seen) == 2, "only task events whose template is 27019"
    for task, outcome in zip(tasks[:2], outcomes[:2], strict=True):
        assert isinstance(outcome, Done)
        (published,) = [o for o in outcome.outputs if o.topic == TRACKING]
        assert published.key == task["event_id"].encode()
        assert ("x-task-id", b"27019") in published.headers
        assert orjson.loads(published.value) == {
            "event_id": task["event_id"],
            "project_id": "5517342",
            "task_id": 27019,
            "assignment_id": 6021187,
            "task_status": "COMPLETED",
            "claim_number": "NW-2026-00418",
            "mfn": "HOCL_8K2P4Q",
            "template": "iTel Cabinet Repair Form",
        }
        assert entities(outcome)["tasks"], "entity rows still produced"
    assert not [o for o in outcomes[2].outputs if o.topic == TRACKING]


def test_context_fields(fake):
    plugin = Plugin("observer", lambda ctx: None)
    enricher = make_enricher(fake, plugins={"observer": plugin})
    task = task_of(8)
    enricher.handle_batch([record(task, attempt=2)])
    (ctx,) = plugin.seen
    assert isinstance(ctx, ClaimxEnrichmentContext)
    assert (ctx.domain, ctx.stage, ctx.event_type) == (
        "claimx",
        "enrichment_complete",
        "CUSTOM_TASK_ASSIGNED",
    )
    assert ctx.ingested_at == task["ingested_at"] and ctx.attempt == 2
    assert ctx.task["task_assignment_id"] == "6021187"
    assert isinstance(ctx.api, ClaimxApi)
    assert [t["assignment_id"] for t in ctx.tasks()] == [6021187]
    assert ctx.get("task_name") == "iTel Cabinet Repair Form"
    assert ctx.project["project_id"] == "5517342"
    with pytest.raises(TypeError):
        ctx.entities["tasks"][0]["status"] = "changed"  # type: ignore[index]


def test_a_filter_suppresses_downloads_never_entity_rows(fake):
    plugin = Plugin("no_videos", lambda ctx: PluginResult.filter("not wanted"))
    enricher = make_enricher(fake, plugins={"no_videos": plugin})
    (outcome,) = enricher.handle_batch([record(task_of(4))])
    assert downloads(outcome) == []
    assert entities(outcome)["media"][0]["media_id"] == "98810452"


def test_plugin_headers_go_on_downstream_records(fake):
    plugin = Plugin("tagger", lambda ctx: PluginResult.ok(headers={"x-tag": "t1"}))
    (outcome,) = make_enricher(fake, plugins={"tagger": plugin}).handle_batch([record(task_of(4))])
    assert all(("x-tag", b"t1") in output.headers for output in outcome.outputs)


def test_a_failing_plugin_never_fails_the_event(fake):
    def broken(ctx: EnrichmentContext) -> None:
        raise RuntimeError("plugin bug")

    enricher = make_enricher(fake, plugins={"broken": Plugin("broken", broken)})
    (outcome,) = enricher.handle_batch([record(task_of(4))])
    assert isinstance(outcome, Done) and len(downloads(outcome)) == 1


def test_plugins_get_the_cached_project_without_a_new_call(fake):
    plugin = Plugin("observer", lambda ctx: None)
    enricher = make_enricher(fake, plugins={"observer": plugin})
    first = [record(task_of(1), offset=0)]
    enricher.handle_batch(first)
    committed(enricher, first)
    enricher.handle_batch([record(task_of(3), offset=1)])
    assert fake.count(E1) == 1
    assert plugin.seen[-1].project["project_number"] == "NW-2026-00418"


def test_a_preloaded_entry_has_no_body_so_plugins_get_a_fresh_e1(fake):
    cache = ProjectCache(1800)
    cache.preload(["5517342"])
    plugin = Plugin("observer", lambda ctx: None)
    enricher = make_enricher(fake, plugins={"observer": plugin}, cache=cache)
    (outcome,) = enricher.handle_batch([record(task_of(3))])
    assert fake.count(E1) == 1
    assert plugin.seen[0].project["project_number"] == "NW-2026-00418"
    assert len(entities(outcome)["projects"]) == 2, "the fetched project row is written too"


def test_without_claimx_plugins_a_preloaded_entry_skips_e1(fake):
    cache = ProjectCache(1800)
    cache.preload(["5517342"])
    xact_only = Plugin("xact_only", lambda ctx: None, domains="xact")
    enricher = make_enricher(fake, plugins={"xact_only": xact_only}, cache=cache)
    (outcome,) = enricher.handle_batch([record(task_of(3))])
    assert fake.count(E1) == 0 and xact_only.seen == []
    assert [p.get("_partial") for p in entities(outcome)["projects"]] == [True]
