"""The plugin API: discovery, config files, isolation, ordering, conditions, doctor.

Needs the fixture distribution: `pip install -e tests/fixtures/plugins` (plugins `good_trigger`,
`broken_import`, `slow_plugin`, all in domain "plugintest").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from click.testing import CliRunner

from vpipe_core.cli.plugins_cmd import plugins_group
from vpipe_core.ops import metrics
from vpipe_core.outcome import Output
from vpipe_core.plugins import (
    Conditions,
    EnrichmentContext,
    PluginInfo,
    PluginResult,
    hookimpl,
)
from vpipe_core.plugins.doctor import doctor
from vpipe_core.plugins.manager import declared_plugin_topics, load_plugins, plugin_set_from_objects
from vpipe_core.plugins.plugin_set import PluginLoadError, PluginSet

TEST_DOMAIN = "plugintest"


def make_ctx(event_type: str = "created", **overrides: Any) -> EnrichmentContext:
    fields: dict[str, Any] = {
        "domain": TEST_DOMAIN,
        "stage": "enrichment_complete",
        "event_id": "evt-1",
        "event_type": event_type,
        "task": {"attachments": ["https://a/1.pdf", "https://a/2.jpg"], "claim": {"no": "C-9"}},
        "data": {"contact": {"name": "Ann"}},
        "extras": {"project_id": 5501, "task_id": 27019, "task_status": "COMPLETED"},
    }
    fields.update(overrides)
    return EnrichmentContext(**fields)


def counter(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def write_config(config_dir: Path, plugin: str, text: str) -> Path:
    path = config_dir / f"{plugin}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def plugin_sets() -> Iterator[list[PluginSet]]:
    """Collects plugin sets to close after the test."""
    opened: list[PluginSet] = []
    yield opened
    for plugin_set in opened:
        plugin_set.close()


@pytest.fixture
def load(plugin_sets: list[PluginSet]) -> Callable[..., PluginSet]:
    def _load(**kwargs: Any) -> PluginSet:
        kwargs.setdefault("strict", False)
        kwargs.setdefault("config_dir", None)
        plugin_set = load_plugins(**kwargs)
        plugin_sets.append(plugin_set)
        return plugin_set

    return _load


@pytest.fixture
def from_objects(plugin_sets: list[PluginSet]) -> Callable[..., PluginSet]:
    def _from_objects(*plugins: FakePlugin, **kwargs: Any) -> PluginSet:
        plugin_set = plugin_set_from_objects({p.name: p for p in plugins}, **kwargs)
        plugin_sets.append(plugin_set)
        return plugin_set

    return _from_objects


class FakePlugin:
    """An in-test plugin object; `behaviour(ctx)` is its vpipe_enrich."""

    def __init__(
        self,
        name: str,
        behaviour: Callable[[EnrichmentContext], PluginResult | None] = lambda ctx: None,
        **info: Any,
    ) -> None:
        self.name = name
        self.behaviour = behaviour
        self.info = info
        self.calls: list[EnrichmentContext] = []

    @hookimpl
    def vpipe_plugin_info(self) -> PluginInfo:
        return PluginInfo(name=self.name, version="9.9", **{"domains": TEST_DOMAIN, **self.info})

    @hookimpl
    def vpipe_enrich(self, ctx: EnrichmentContext) -> PluginResult | None:
        self.calls.append(ctx)
        return self.behaviour(ctx)


@attrs.define
class NotifyConfig:
    topic: str = "plugintest.out"
    recipients: list[str] = attrs.field(factory=list)
    retries: int = 3


# --------------------------------------------------------------------------- discovery, doctor


def test_doctor_cli_reports_the_broken_plugin_and_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        plugins_group, ["doctor"], env={"VPIPE_PLUGIN_CONFIG_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    broken = next(line for line in result.output.splitlines() if line.startswith("broken_import"))
    assert "error" in broken
    assert "RuntimeError: broken_import cannot start: the vendor SDK is missing" in broken
    good = next(line for line in result.output.splitlines() if line.startswith("good_trigger"))
    assert "1.2.0" in good and " ok" in good


def test_doctor_rows_cover_every_installed_plugin_and_orphan_config_files(tmp_path: Path) -> None:
    write_config(tmp_path, "no_such_plugin", "enabled = true\n")
    rows = {row.name: row for row in doctor(config_dir=tmp_path, selected=["good_trigger"])}
    assert rows["good_trigger"].status == "ok"
    assert rows["slow_plugin"].status == "ok"
    assert "not selected" in rows["slow_plugin"].detail
    assert rows["broken_import"].status == "error"
    assert rows["no_such_plugin"].status == "error"
    assert "matches no installed plugin" in rows["no_such_plugin"].detail


def test_list_cli_shows_loaded_plugins(tmp_path: Path) -> None:
    write_config(tmp_path, "slow_plugin", "enabled = false\n")
    result = CliRunner().invoke(
        plugins_group,
        ["list"],
        env={
            "VPIPE_PLUGIN_CONFIG_DIR": str(tmp_path),
            "VPIPE_PLUGINS": "good_trigger, slow_plugin",
        },
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = "NAME VERSION DOMAINS STAGES EVENT TYPES PRIORITY ENABLED"
    assert lines[0].split() == header.split()
    good = next(line for line in lines if line.startswith("good_trigger")).split()
    assert good == f"good_trigger 1.2.0 {TEST_DOMAIN} enrichment_complete created 100 yes".split()
    assert next(line for line in lines if line.startswith("slow_plugin")).split()[-1] == "no"


def test_lenient_load_skips_the_broken_plugin_and_keeps_the_good_one(load: Any) -> None:
    plugin_set = load(selected=None)
    names = [plugin.name for plugin in plugin_set.plugins]
    assert "good_trigger" in names
    assert "broken_import" not in names
    problem = next(p for p in plugin_set.problems if p.name == "broken_import")
    assert problem.target == "vpipe_test_plugins.broken_import"
    assert "vendor SDK is missing" in problem.error
    assert "test.notifications" in plugin_set.topics()


def test_declared_plugin_topics_come_from_the_plugins_config(tmp_path: Path) -> None:
    assert "test.notifications" in declared_plugin_topics()
    write_config(tmp_path, "good_trigger", '[config]\ntopic = "plugintest.custom"\n')
    topics = declared_plugin_topics(selected=["good_trigger"], config_dir=tmp_path)
    assert topics == ["plugintest.custom"]


def test_strict_load_raises_listing_the_broken_plugin() -> None:
    with pytest.raises(PluginLoadError) as raised:
        load_plugins(selected=None, strict=True, config_dir=None)
    assert [p.name for p in raised.value.problems if p.name == "broken_import"]
    assert "broken_import" in str(raised.value)


def test_selection_imports_only_the_selected_and_reports_unknown_names(load: Any) -> None:
    plugin_set = load(selected=["good_trigger", "not_installed"])
    assert [plugin.name for plugin in plugin_set.plugins] == ["good_trigger"]
    assert [(p.name, p.target) for p in plugin_set.problems] == [("not_installed", "-")]
    assert "not installed" in plugin_set.problems[0].error


# --------------------------------------------------------------------------- running


def test_good_plugin_publishes_a_record_and_adds_a_header(load: Any) -> None:
    plugin_set = load(selected=["good_trigger"])
    ctx = make_ctx("created", headers={"x-trace": "t-1"})

    result = plugin_set.run(ctx)

    assert not result.filtered
    assert result.headers == {"x-trace": "t-1", "x-good-trigger": "created"}
    [output] = result.outputs
    assert output.topic == "test.notifications"
    assert output.key == b"evt-1"
    assert output.headers == [("x-plugin-name", b"good_trigger")]
    assert orjson.loads(output.value or b"")["task"]["claim"] == {"no": "C-9"}
    assert [(run.plugin, run.result) for run in result.runs] == [("good_trigger", "ok")]
    assert ctx.headers == {"x-trace": "t-1"}, "the caller's context is not changed"


def test_plugin_does_not_run_for_other_event_types_or_domains(load: Any) -> None:
    plugin_set = load(selected=["good_trigger"])
    assert plugin_set.run(make_ctx("updated")).runs == []
    assert plugin_set.run(make_ctx("created", domain="xact")).runs == []


def test_slow_plugin_times_out_and_the_others_still_run(load: Any, tmp_path: Path) -> None:
    # 2 s: the plugin must still be stuck when the second run starts, on a loaded machine too
    write_config(tmp_path, "slow_plugin", "[config]\nsleep_s = 2.0\n")
    plugin_set = load(selected=["slow_plugin", "good_trigger"], config_dir=tmp_path)
    errors_before = counter("vpipe_plugin_errors_total", plugin="slow_plugin")

    result = plugin_set.run(make_ctx(), timeout_s=0.2)

    assert [(run.plugin, run.result) for run in result.runs] == [
        ("slow_plugin", "error"),
        ("good_trigger", "ok"),
    ]
    assert "timed out" in (result.runs[0].error or "")
    assert counter("vpipe_plugin_errors_total", plugin="slow_plugin") == errors_before + 1
    assert not result.filtered
    assert [output.topic for output in result.outputs] == ["test.notifications"]

    again = plugin_set.run(make_ctx(), timeout_s=0.2)
    assert again.runs[0].result == "skipped", "a plugin still stuck gets no second thread"

    time.sleep(2.5)  # the timed-out call finishes and tries to publish: it must not leak
    assert [output.topic for output in result.outputs] == ["test.notifications"]
    assert "x-slow" not in result.headers


def test_plugin_raising_is_logged_counted_and_ignored(
    from_objects: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(ctx: EnrichmentContext) -> None:
        ctx.publish("plugintest.half-done", b"x")
        raise KeyError("missing field")

    fine = FakePlugin("fine", lambda ctx: PluginResult.ok(headers={"x-fine": "1"}))
    plugin_set = from_objects(FakePlugin("exploding", explode, priority=1), fine)
    errors_before = counter("vpipe_plugin_errors_total", plugin="exploding")
    error_runs_before = counter("vpipe_plugin_runs_total", plugin="exploding", result="error")

    with caplog.at_level(logging.ERROR, logger="vpipe.plugins"):
        result = plugin_set.run(make_ctx())

    assert [(run.plugin, run.result) for run in result.runs] == [
        ("exploding", "error"),
        ("fine", "ok"),
    ]
    assert result.outputs == [], "a failed plugin's publishes are dropped"
    assert result.headers == {"x-fine": "1"}
    assert counter("vpipe_plugin_errors_total", plugin="exploding") == errors_before + 1
    assert (
        counter("vpipe_plugin_runs_total", plugin="exploding", result="error")
        == error_runs_before + 1
    )
    assert any("exploding" in message for message in caplog.messages)


def test_invalid_return_value_counts_as_an_error(from_objects: Any) -> None:
    plugin_set = from_objects(FakePlugin("sloppy", lambda ctx: "ok"))  # type: ignore[arg-type,return-value]
    [run] = plugin_set.run(make_ctx()).runs
    assert run.result == "error"
    assert "expected PluginResult" in (run.error or "")


def test_filter_stops_the_event_and_the_others_still_run(from_objects: Any) -> None:
    later = FakePlugin("later", priority=200)
    plugin_set = from_objects(
        FakePlugin("gate", lambda ctx: PluginResult.filter("test claim"), priority=1), later
    )
    result = plugin_set.run(make_ctx())
    assert result.filtered
    assert result.filtered_by == [("gate", "test claim")]
    assert [(run.plugin, run.result) for run in result.runs] == [
        ("gate", "filtered"),
        ("later", "ok"),
    ]


def test_outputs_and_log_template_from_the_result(
    from_objects: Any, caplog: pytest.LogCaptureFixture
) -> None:
    extra = Output("plugintest.extra", b"{}", b"k")
    plugin = FakePlugin(
        "logger",
        lambda ctx: PluginResult.ok(
            outputs=[extra], log="task {task_id} of {event_id} is {task_status}; {unknown}"
        ),
    )
    with caplog.at_level(logging.INFO, logger="vpipe.plugins"):
        result = from_objects(plugin).run(make_ctx())
    assert result.outputs == [extra]
    assert "logger: task 27019 of evt-1 is COMPLETED; {unknown}" in caplog.messages


def test_priority_orders_plugins_then_name_and_the_config_file_overrides_it(
    from_objects: Any, tmp_path: Path
) -> None:
    write_config(tmp_path, "charlie", "priority = 5\n")
    plugin_set = from_objects(
        FakePlugin("alpha", priority=50),
        FakePlugin("bravo", priority=10),
        FakePlugin("charlie", priority=100),
        FakePlugin("able", priority=50),
        config_dir=tmp_path,
    )
    order = ["charlie", "bravo", "able", "alpha"]
    assert [plugin.name for plugin in plugin_set.plugins] == order
    assert [run.plugin for run in plugin_set.run(make_ctx()).runs] == order


def test_headers_set_by_one_plugin_are_seen_by_the_next(from_objects: Any) -> None:
    def first(ctx: EnrichmentContext) -> None:
        ctx.headers["x-first"] = "1"

    seen: list[dict[str, str]] = []
    plugin_set = from_objects(
        FakePlugin("a_first", first, priority=1),
        FakePlugin("b_second", lambda ctx: seen.append(dict(ctx.headers)), priority=2),
    )
    assert plugin_set.run(make_ctx()).headers == {"x-first": "1"}
    assert seen == [{"x-first": "1"}]


# --------------------------------------------------------------------------- config files


def test_config_file_is_structured_into_the_config_class(from_objects: Any, tmp_path: Path) -> None:
    write_config(tmp_path, "notify", '[config]\ntopic = "plugintest.x"\nrecipients = ["a@b.c"]\n')
    plugin = FakePlugin("notify", config_class=NotifyConfig)
    plugin_set = from_objects(plugin, config_dir=tmp_path)
    assert plugin_set.plugins[0].config == NotifyConfig("plugintest.x", ["a@b.c"], 3)
    plugin_set.run(make_ctx())
    assert plugin.calls[0].config == NotifyConfig("plugintest.x", ["a@b.c"], 3)


def test_no_config_file_means_defaults(from_objects: Any, tmp_path: Path) -> None:
    plugin_set = from_objects(FakePlugin("notify", config_class=NotifyConfig), config_dir=tmp_path)
    assert plugin_set.plugins[0].config == NotifyConfig()
    assert plugin_set.plugins[0].settings.source is None


def test_unknown_config_key_is_an_error_naming_key_plugin_and_file(
    load: Any, tmp_path: Path
) -> None:
    path = write_config(tmp_path, "good_trigger", '[config]\ntopik = "oops"\n')
    plugin_set = load(selected=["good_trigger"], config_dir=tmp_path)
    assert plugin_set.plugins == ()
    [problem] = plugin_set.problems
    assert "topik" in problem.error
    assert "good_trigger" in problem.error
    assert str(path) in problem.error
    with pytest.raises(PluginLoadError, match="topik"):
        load_plugins(selected=["good_trigger"], strict=True, config_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plugin]\nenabled = true\n", "nested [plugin] block"),
        ("enabled = true\n[plugin.config]\ntopic = 'x'\n", "nested [plugin] block"),
        ("triggers = []\n", "unknown top-level key(s) triggers"),
        ("enabled = 'yes'\n", "'enabled' must be true or false"),
        ("priority = '5'\n", "'priority' must be an integer"),
        ("[config]\nretries = '3'\n", "config.retries"),
        ("[config]\nrecipients = 'a@b.c'\n", "config.recipients"),
        ("not toml at all = = =\n", "cannot read config file"),
    ],
)
def test_bad_config_files_are_rejected_loudly(
    from_objects: Any, tmp_path: Path, text: str, message: str
) -> None:
    path = write_config(tmp_path, "notify", text)
    plugin_set = from_objects(FakePlugin("notify", config_class=NotifyConfig), config_dir=tmp_path)
    [problem] = plugin_set.problems
    assert message in problem.error
    assert str(path) in problem.error


def test_config_for_a_plugin_without_config_class_is_an_error(
    from_objects: Any, tmp_path: Path
) -> None:
    write_config(tmp_path, "plain", "[config]\nx = 1\n")
    [problem] = from_objects(FakePlugin("plain"), config_dir=tmp_path).problems
    assert "takes no [config]" in problem.error


def test_env_references_are_expanded(from_objects: Any, tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "notify",
        '[config]\ntopic = "${NOTIFY_PREFIX}.alerts"\n'
        'recipients = ["${NOTIFY_TO:-ops@example.com}", "${NOTIFY_CC:-cc@example.com}"]\n',
    )
    environ = {"NOTIFY_PREFIX": "claimx", "NOTIFY_CC": "team@example.com"}
    plugin_set = from_objects(
        FakePlugin("notify", config_class=NotifyConfig), config_dir=tmp_path, environ=environ
    )
    assert plugin_set.plugins[0].config == NotifyConfig(
        "claimx.alerts", ["ops@example.com", "team@example.com"]
    )


def test_unresolved_env_reference_names_the_variable_and_the_file(
    from_objects: Any, tmp_path: Path
) -> None:
    path = write_config(tmp_path, "notify", '[config]\ntopic = "${NOTIFY_PREFIX}.alerts"\n')
    plugin_set = from_objects(
        FakePlugin("notify", config_class=NotifyConfig), config_dir=tmp_path, environ={}
    )
    [problem] = plugin_set.problems
    assert "NOTIFY_PREFIX" in problem.error
    assert str(path) in problem.error


def test_disabled_plugin_is_kept_aside_and_never_run(from_objects: Any, tmp_path: Path) -> None:
    write_config(tmp_path, "off", "enabled = false\n")
    plugin = FakePlugin("off")
    plugin_set = from_objects(plugin, config_dir=tmp_path)
    assert plugin_set.plugins == ()
    assert [p.name for p in plugin_set.disabled] == ["off"]
    assert plugin_set.run(make_ctx()).runs == []


# --------------------------------------------------------------------------- plugin checks


def test_missing_required_env_is_a_problem(from_objects: Any) -> None:
    plugin = FakePlugin("itel", required_env=("ITEL_API_TOKEN", "ITEL_API_URL"))
    plugin_set = from_objects(plugin, environ={"ITEL_API_URL": "https://itel"})
    [problem] = plugin_set.problems
    assert problem.name == "itel"
    assert "ITEL_API_TOKEN" in problem.error and "ITEL_API_URL" not in problem.error


def test_plugin_without_info_or_with_a_foreign_name_or_unknown_hook_is_a_problem(
    from_objects: Any,
) -> None:
    class NoInfo:
        name = "no_info"

        @hookimpl
        def vpipe_enrich(self, ctx: EnrichmentContext) -> None:
            return None

    class Typo(FakePlugin):
        @hookimpl
        def vpipe_enrichh(self, ctx: EnrichmentContext) -> None:
            return None

    impostor = FakePlugin("impostor")
    impostor.name = "someone_else"
    plugin_set = plugin_set_from_objects(
        {"no_info": NoInfo(), "impostor": impostor, "typo": Typo("typo")}
    )
    errors = {problem.name: problem.error for problem in plugin_set.problems}
    assert "no vpipe_plugin_info" in errors["no_info"]
    assert "entry point must have the same name" in errors["impostor"]
    assert "unknown hook(s) vpipe_enrichh" in errors["typo"]
    assert plugin_set.plugins == ()
    plugin_set.close()


def test_topics_and_companion_workers_are_collected_with_the_config(tmp_path: Path) -> None:
    from vpipe_core.spec import WorkerSpec

    class WithWorker(FakePlugin):
        @hookimpl
        def vpipe_topics(self, config: NotifyConfig) -> list[str]:
            return [config.topic]

        @hookimpl
        def vpipe_companion_workers(self) -> list[WorkerSpec]:
            return [WorkerSpec(name="itel-tracking", domain="claimx", handler="m:f")]

    write_config(tmp_path, "tracker", '[config]\ntopic = "itel.cabinet.task.tracking"\n')
    plugin = WithWorker("tracker", config_class=NotifyConfig)
    with plugin_set_from_objects({"tracker": plugin}, config_dir=tmp_path) as plugin_set:
        assert plugin_set.topics() == ["itel.cabinet.task.tracking"]
        assert [spec.name for spec in plugin_set.companion_workers()] == ["itel-tracking"]


# --------------------------------------------------------------------------- conditions


def test_conditions_match_context_fields_comparing_ids_by_text() -> None:
    ctx = make_ctx()
    assert Conditions.from_dict({"any": [{"field": "task_id", "in": ["27019", 32513]}]}).matches(
        ctx
    )
    assert not Conditions.from_dict(
        {"all": [{"field": "task_id", "equals": 27019}, {"field": "task_status", "equals": "X"}]}
    ).matches(ctx)
    assert Conditions.from_dict(
        {
            "all": [
                {"field": "project_id", "equals": "5501"},
                {"field": "event_type", "not_in": ["deleted"]},
                {"field": "assignment_id", "not_equals": "A-1"},  # absent reads as None
            ]
        }
    ).matches(ctx)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"some": []}, "must be {'any'"),
        ({"any": [], "all": []}, "must be {'any'"),
        ({"any": []}, "at least one condition"),
        ({"any": [{"field": "claim_no", "equals": 1}]}, "not one of"),
        ({"any": [{"field": "task_id"}]}, "exactly one of"),
        ({"any": [{"field": "task_id", "equals": 1, "in": [1]}]}, "exactly one of"),
        ({"any": [{"field": "task_id", "in": "27019"}]}, "needs a list"),
        ({"any": [{"field": "task_id", "equal": 1}]}, "unknown condition key(s) equal"),
    ],
)
def test_malformed_conditions_are_rejected_loudly(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Conditions.from_dict(spec)
    assert message in str(raised.value)


def test_conditions_pre_filter_plugin_calls(from_objects: Any) -> None:
    plugin = FakePlugin("itel_trigger", conditions={"any": [{"field": "task_id", "in": [27019]}]})
    plugin_set = from_objects(plugin)
    plugin_set.run(make_ctx())
    plugin_set.run(make_ctx(extras={"task_id": 32513}))
    assert [ctx.get("task_id") for ctx in plugin.calls] == [27019]


def test_event_type_star_or_empty_matches_everything(from_objects: Any) -> None:
    star, empty = FakePlugin("star", event_types="*"), FakePlugin("empty", event_types=())
    plugin_set = from_objects(star, empty)
    assert len(plugin_set.run(make_ctx("anything")).runs) == 2


# --------------------------------------------------------------------------- context


def test_ctx_get_reads_dotted_paths_with_list_indexes() -> None:
    project = {"name": "Main St", "contacts": [{"email": "a@b.c"}]}
    ctx = make_ctx(extras={"project": project, "project_id": 7})
    assert ctx.get("task.attachments.0") == "https://a/1.pdf"
    assert ctx.get("task.attachments.-1") == "https://a/2.jpg"
    assert ctx.get("extras.project.name") == "Main St"
    assert ctx.get("project.contacts.0.email") == "a@b.c"
    assert ctx.get("project_id") == 7
    assert ctx.get("data.contact.name") == "Ann"
    assert ctx.get("event_id") == "evt-1"
    assert ctx.get("task.attachments.9") is None
    assert ctx.get("task.nothing.deeper", "n/a") == "n/a"
    assert ctx.get("task.attachments.first") is None


def test_task_and_data_are_read_only() -> None:
    source: dict[str, Any] = {"attachments": ["u"], "claim": {"no": "C-9"}}
    ctx = make_ctx(task=source)
    with pytest.raises(TypeError):
        ctx.task["claim"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        ctx.task["claim"]["no"] = "other"
    source["claim"]["no"] = "changed"
    assert ctx.get("task.claim.no") == "C-9"


def test_publish_encodes_mappings_and_keeps_bytes() -> None:
    ctx = make_ctx()
    as_json = ctx.publish("t.json", {"task": ctx.task, "at": datetime(2024, 1, 2, tzinfo=UTC)})
    as_bytes = ctx.publish("t.raw", b"\x00raw", key="k-1", headers={"x-a": "b"})
    assert orjson.loads(as_json.value or b"")["task"]["attachments"][0] == "https://a/1.pdf"
    assert as_json.key == b"evt-1"
    assert as_bytes == Output("t.raw", b"\x00raw", b"k-1", [("x-a", b"b")])
    assert ctx.published == (as_json, as_bytes)


def test_context_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_ctx(now=datetime(2024, 1, 1))
