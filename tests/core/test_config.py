"""Configuration: typed settings, `.env` files, guards and `vpipe config` (runtime.md §7)."""

from __future__ import annotations

import enum
import logging
import os
from importlib.metadata import EntryPoint
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.cli.config_cmd import config_group
from vpipe_core.config import environment as env_module
from vpipe_core.config import loader
from vpipe_core.config.core import CoreSettings, LogLevel
from vpipe_core.config.envfile import EnvFileError, parse_env_text
from vpipe_core.config.environment import effective_environment, load_environment
from vpipe_core.config.fields import setting
from vpipe_core.config.guards import (
    retired_variables,
    settings_problems,
    typo_guard_prefixes,
    unknown_variables,
)
from vpipe_core.config.loader import (
    ConfigError,
    all_settings_classes,
    describe,
    discover_settings_classes,
    load_settings,
    mask,
)
from vpipe_xact.settings import XactSettings


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@attrs.frozen
class SampleSettings:
    count: int = setting("T_COUNT", 5, min=1, max=10, help="how many")
    ratio: float = setting("T_RATIO", 0.5, min=0, max=1, help="a fraction")
    flag: bool = setting("T_FLAG", False, help="a switch")
    color: Color = setting("T_COLOR", Color.RED, help="a colour")
    where: Path = setting("T_WHERE", Path("/srv/data"), help="a directory")
    delays: tuple[int, ...] = setting("T_DELAYS", (1, 2), min=1, max=100, help="seconds")
    names: tuple[str, ...] = setting("T_NAMES", (), help="a list")
    label: str = setting("T_LABEL", "plain", help="free text")
    minimum_only: int | None = setting("T_MINIMUM_ONLY", None, min=0, help="optional")
    maybe_path: Path | None = setting("T_MAYBE_PATH", None, help="optional path")
    token: str | None = setting("T_TOKEN", None, secret=True, help="a secret")
    pin: int = setting("T_PIN", 1234, secret=True, help="a secret number")


@attrs.frozen
class RequiredSettings:
    table: str = setting("T_TABLE", help="table URI")
    size: int = setting("T_SIZE", min=1, max=10, help="batch size")


def _at_most_limit(instance: LimitSettings, _attribute: attrs.Attribute, value: int) -> None:
    if value > instance.limit:
        raise ValueError(f"T_LOW ({value}) must not exceed T_LIMIT ({instance.limit})")


@attrs.frozen
class LimitSettings:
    limit: int = setting("T_LIMIT", 10, help="upper bound")
    low: int = attrs.field(
        default=1, validator=_at_most_limit, metadata={"vpipe_env": "T_LOW", "vpipe_help": "low"}
    )


@attrs.frozen
class UnsupportedSettings:
    mapping: dict[str, str] = setting("T_MAPPING", help="not a supported form")


def _problems(cls: type, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(cls, env)
    return caught.value.problems


# --- parsing ---------------------------------------------------------------------------------


def test_unset_variables_keep_their_defaults() -> None:
    assert load_settings(SampleSettings, {}) == SampleSettings()


@pytest.mark.parametrize(
    ("variable", "raw", "attribute", "expected"),
    [
        ("T_COUNT", "7", "count", 7),
        ("T_COUNT", " 10 ", "count", 10),
        ("T_COUNT", "1", "count", 1),
        ("T_RATIO", "0.25", "ratio", 0.25),
        ("T_RATIO", "1", "ratio", 1.0),
        ("T_FLAG", "true", "flag", True),
        ("T_FLAG", "TRUE", "flag", True),
        ("T_FLAG", "1", "flag", True),
        ("T_FLAG", "Yes", "flag", True),
        ("T_FLAG", "false", "flag", False),
        ("T_FLAG", "0", "flag", False),
        ("T_FLAG", "NO", "flag", False),
        ("T_COLOR", "green", "color", Color.GREEN),
        ("T_COLOR", "GREEN", "color", Color.GREEN),
        ("T_WHERE", "/var/lib/x", "where", Path("/var/lib/x")),
        ("T_DELAYS", "5, 10,,20,", "delays", (5, 10, 20)),
        ("T_DELAYS", "", "delays", ()),
        ("T_NAMES", " a , b ,,", "names", ("a", "b")),
        ("T_LABEL", " kept as is ", "label", " kept as is "),
        ("T_MINIMUM_ONLY", "0", "minimum_only", 0),
        ("T_MINIMUM_ONLY", "", "minimum_only", None),
        ("T_MAYBE_PATH", "/a/b", "maybe_path", Path("/a/b")),
        ("T_MAYBE_PATH", "  ", "maybe_path", None),
        ("T_TOKEN", "s3cret", "token", "s3cret"),
    ],
)
def test_good_values_are_parsed_by_annotation(
    variable: str, raw: str, attribute: str, expected: object
) -> None:
    settings = load_settings(SampleSettings, {variable: raw})
    assert getattr(settings, attribute) == expected


@pytest.mark.parametrize(
    ("variable", "raw", "form"),
    [
        ("T_COUNT", "abc", "an integer from 1 to 10"),
        ("T_COUNT", "0", "an integer from 1 to 10"),
        ("T_COUNT", "11", "an integer from 1 to 10"),
        ("T_COUNT", "1.5", "an integer from 1 to 10"),
        ("T_COUNT", "", "an integer from 1 to 10"),
        ("T_RATIO", "x", "a number from 0 to 1"),
        ("T_RATIO", "1.5", "a number from 0 to 1"),
        ("T_RATIO", "nan", "a number from 0 to 1"),
        ("T_FLAG", "maybe", "one of true, false, 1, 0, yes, no"),
        ("T_FLAG", "", "one of true, false, 1, 0, yes, no"),
        ("T_COLOR", "purple", "one of red, green"),
        ("T_WHERE", "", "a path"),
        ("T_DELAYS", "1,abc", "a comma-separated list of integers from 1 to 100"),
        ("T_DELAYS", "0,5", "a comma-separated list of integers from 1 to 100"),
        ("T_DELAYS", "5,101", "a comma-separated list of integers from 1 to 100"),
        ("T_MINIMUM_ONLY", "-1", "an integer of at least 0"),
    ],
)
def test_bad_value_names_variable_value_and_expected_form(
    variable: str, raw: str, form: str
) -> None:
    assert _problems(SampleSettings, {variable: raw}) == [
        f"{variable}: got '{raw}', expected {form}"
    ]


def test_core_setting_error_has_the_documented_shape() -> None:
    assert _problems(CoreSettings, {"KAFKA_SESSION_TIMEOUT_MS": "abc"}) == [
        "KAFKA_SESSION_TIMEOUT_MS: got 'abc', expected an integer from 1000 to 3600000"
    ]


def test_core_settings_read_every_form() -> None:
    settings = load_settings(
        CoreSettings,
        {
            "LOG_LEVEL": "debug",
            "RETRY_DELAYS": "60,120",
            "VPIPE_PLUGINS": "itel, audit",
            "JSON_LOGS": "no",
            "STARTUP_BACKOFF_SECONDS": "2.5",
            "CA_BUNDLE": "/etc/pki/ca.pem",
        },
    )
    assert settings.log_level is LogLevel.DEBUG
    assert settings.retry_delays == (60, 120)
    assert settings.plugins == ("itel", "audit")
    assert settings.json_logs is False
    assert settings.startup_backoff_seconds == 2.5
    assert settings.ca_bundle == Path("/etc/pki/ca.pem")


def test_secret_values_are_masked_in_problems() -> None:
    error_text = "\n".join(_problems(SampleSettings, {"T_PIN": "12a4"}))
    assert error_text == "T_PIN: got '****', expected an integer"
    assert "12a4" not in error_text


def test_missing_required_variables_are_each_reported() -> None:
    assert _problems(RequiredSettings, {}) == [
        "T_TABLE: required, expected a string",
        "T_SIZE: required, expected an integer from 1 to 10",
    ]


def test_every_problem_is_collected_into_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(SampleSettings, {"T_COUNT": "x", "T_FLAG": "maybe", "T_COLOR": "blue"})
    assert len(caught.value.problems) == 3
    assert str(caught.value).splitlines() == caught.value.problems


def test_class_validators_become_problems() -> None:
    problems = _problems(LimitSettings, {"T_LIMIT": "3", "T_LOW": "5"})
    assert problems == ["LimitSettings: T_LOW (5) must not exceed T_LIMIT (3)"]


def test_unsupported_annotation_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="T_MAPPING"):
        load_settings(UnsupportedSettings, {"T_MAPPING": "a=b"})


def test_describe_lists_defaults_help_and_secrecy() -> None:
    rows = {row[0]: row for row in describe(SampleSettings)}
    assert rows["T_COUNT"] == ("T_COUNT", "5", "how many", False)
    assert rows["T_FLAG"][1] == "false"
    assert rows["T_COLOR"][1] == "red"
    assert rows["T_DELAYS"][1] == "1,2"
    assert rows["T_TOKEN"] == ("T_TOKEN", "(unset)", "a secret", True)
    assert rows["T_PIN"][1] == "****"
    assert describe(RequiredSettings)[0][1] == "(required)"


def test_mask_hides_any_value() -> None:
    assert mask("hunter2") == "****"
    assert mask("") == ""


# --- .env files ------------------------------------------------------------------------------


def test_env_file_syntax() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "  SPACED = padded value   ",
            "HASH=a#b",
            "SINGLE='literal \\n'",
            'DOUBLE="systemd keeps \\n"',
            'ESCAPED="costs \\$5 and a \\"quote\\""',
            'QUOTED="x y"',
            "EMPTY=",
        ]
    )
    assert parse_env_text(text, ".env", {}) == {
        "PLAIN": "value",
        "SPACED": "padded value",
        "HASH": "a#b",
        "SINGLE": "literal \\n",
        "DOUBLE": "systemd keeps \\n",
        "ESCAPED": 'costs $5 and a "quote"',
        "QUOTED": "x y",
        "EMPTY": "",
    }


def test_references_resolve_against_environment_first_then_earlier_lines() -> None:
    text = "\n".join(
        [
            "BASE=/from/file",
            "ONELAKE_BASE_PATH=/lake",
            "XACT_PATH=${ONELAKE_BASE_PATH}/xact",
            "OVERRIDDEN=${BASE}/x",
            'QUOTED="${ONELAKE_BASE_PATH}/q"',
            "FALLBACK=${UNSET_ONE:-default/path}",
            "EMPTY_FALLBACK=${EMPTY_ONE:-used}",
        ]
    )
    values = parse_env_text(text, ".env", {"BASE": "/from/env", "EMPTY_ONE": ""})
    assert values["XACT_PATH"] == "/lake/xact"
    assert values["OVERRIDDEN"] == "/from/env/x"
    assert values["QUOTED"] == "/lake/q"
    assert values["FALLBACK"] == "default/path"
    assert values["EMPTY_FALLBACK"] == "used"


def test_unresolved_reference_names_variable_file_and_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("A=1\nXACT_PATH=${ONELAKE_BASE_PATH}/xact\n")
    with pytest.raises(ConfigError) as caught:
        effective_environment({}, env_file)
    (problem,) = caught.value.problems
    assert str(env_file) in problem
    assert "line 2" in problem
    assert "ONELAKE_BASE_PATH" in problem
    assert "XACT_PATH" in problem


@pytest.mark.parametrize(
    "line",
    ["NOT AN ASSIGNMENT", "1BAD=x", 'OPEN="unclosed', "TRAILING='x' y", "REF=${bad name}"],
)
def test_malformed_lines_name_file_and_line(line: str) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env_text(f"GOOD=1\n{line}\n", "/etc/app/.env", {})
    assert caught.value.problems[0].startswith("/etc/app/.env line 2: ")


def test_every_bad_line_is_reported() -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env_text("nonsense\nA=${MISSING}\n", "f", {})
    assert len(caught.value.problems) == 2


def test_environment_overrides_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("KAFKA_BOOTSTRAP_SERVERS=file:9092\nLOG_LEVEL=DEBUG\n")
    environment = load_environment({"KAFKA_BOOTSTRAP_SERVERS": "env:9092"}, env_file)
    assert environment.values == {"KAFKA_BOOTSTRAP_SERVERS": "env:9092", "LOG_LEVEL": "DEBUG"}
    assert environment.from_file == {"LOG_LEVEL"}
    assert environment.env_file == env_file


def test_env_file_named_by_variable(tmp_path: Path) -> None:
    env_file = tmp_path / "named.env"
    env_file.write_text("LOG_LEVEL=ERROR\n")
    values = effective_environment({"VPIPE_ENV_FILE": str(env_file)})
    assert values["LOG_LEVEL"] == "ERROR"


def test_missing_explicit_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        effective_environment({}, tmp_path / "absent.env")
    with pytest.raises(ConfigError, match="VPIPE_ENV_FILE"):
        effective_environment({"VPIPE_ENV_FILE": str(tmp_path / "absent.env")})


def test_missing_default_env_file_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env_module, "DEFAULT_ENV_FILE", tmp_path / "absent.env")
    environment = load_environment({"A": "1"})
    assert environment.values == {"A": "1"}
    assert environment.env_file is None


def test_process_values_are_expanded(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ONELAKE_BASE_PATH=/lake\n")
    values = effective_environment(
        {"HOME_DIR": "/home/v", "CACHE_DIR": "${HOME_DIR}/cache", "XACT": "${ONELAKE_BASE_PATH}/x"},
        env_file,
    )
    assert values["CACHE_DIR"] == "/home/v/cache"
    assert values["XACT"] == "/lake/x"


def test_unresolved_process_reference_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CACHE_DIR: \$\{NOWHERE\} is not set"):
        effective_environment({"CACHE_DIR": "${NOWHERE}/cache"}, _empty_env_file(tmp_path))


def test_exported_shell_functions_are_not_expanded(tmp_path: Path) -> None:
    function_body = '() {  if [ -n "${MODULES_X+x}" ]; then :; fi }'
    values = effective_environment({"BASH_FUNC_module%%": function_body}, _empty_env_file(tmp_path))
    assert values["BASH_FUNC_module%%"] == function_body


def _empty_env_file(tmp_path: Path) -> Path:
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return env_file


# --- guards ----------------------------------------------------------------------------------


RETIRED = retired_variables([CoreSettings, XactSettings, ClaimxSettings])
REPLACED = sorted((name, reason) for name, reason in RETIRED.items() if not name.endswith("*"))


@pytest.mark.parametrize(("legacy", "reason"), REPLACED)
def test_legacy_names_fail_with_their_replacement(legacy: str, reason: str) -> None:
    classes = {"core": CoreSettings, "xact": XactSettings, "claimx": ClaimxSettings}
    problems = settings_problems(classes, {legacy: "x"})
    assert problems == [f"{legacy}: {reason}"]


def test_spec_legacy_replacements() -> None:
    assert RETIRED["LOCAL_KAFKA_BOOTSTRAP_SERVERS"] == "no longer read, use KAFKA_BOOTSTRAP_SERVERS"
    assert RETIRED["NO_DELTA"] == "no longer read, use ENABLE_DELTA_WRITES=false"
    assert RETIRED["AZURE_TOKEN_FILE"] == "no longer read, use AZURE_AUTH_METHOD=cli"
    assert RETIRED["CLAIMX_API_KEY"] == "no longer read, use CLAIMX_API_TOKEN"
    assert RETIRED["POLL_BATCH_SIZE"] == "no longer read, use XACT_EVENTHOUSE_BATCH_SIZE"


@pytest.mark.parametrize("name", ["XACT_S3_BUCKET", "CLAIMX_S3_REGION"])
def test_s3_variables_are_reported_once_as_unused(name: str) -> None:
    classes = {"core": CoreSettings, "xact": XactSettings, "claimx": ClaimxSettings}
    problems = settings_problems(classes, {name: "x"})
    assert problems == [f"{name}: not used: downloads rely on presigned URLs"]


def test_typo_guard_suggests_the_closest_name() -> None:
    problems = unknown_variables(
        {"VPIPE_CONSUMER_GRUOP": "g", "UNRELATED": "x"}, {"VPIPE_CONSUMER_GROUP"}, {"VPIPE_"}
    )
    assert problems == [
        "VPIPE_CONSUMER_GRUOP: unknown variable (did you mean VPIPE_CONSUMER_GROUP?)"
    ]


def test_typo_guard_without_a_close_name() -> None:
    problems = unknown_variables({"XACT_ZZZ": "1"}, {"VPIPE_PLUGINS"}, {"VPIPE_", "XACT_"})
    assert problems == ["XACT_ZZZ: unknown variable"]


def test_typo_guard_accepts_loader_and_domain_retry_variables() -> None:
    env = {"VPIPE_ENV_FILE": "f", "XACT_RETRY_DELAYS": "60", "VPIPE_RETRY_DELAYS": "60"}
    problems = unknown_variables(env, set(), {"VPIPE_", "XACT_"})
    assert problems == ["VPIPE_RETRY_DELAYS: unknown variable (did you mean XACT_RETRY_DELAYS?)"]


def test_typo_guard_prefixes_come_from_domains() -> None:
    assert typo_guard_prefixes(["core", "xact", "itel-cabinet"]) == {
        "VPIPE_",
        "XACT_",
        "ITEL_CABINET_",
    }


def test_settings_problems_checks_every_class_and_both_guards() -> None:
    env = {
        "KAFKA_SESSION_TIMEOUT_MS": "abc",
        "T_COUNT": "99",
        "VPIPE_PLUGINZ": "a",
        "NO_DELTA": "1",
        "T_TABLE": "t",
    }
    problems = settings_problems(
        {"core": CoreSettings, "t": SampleSettings, "t2": RequiredSettings}, env
    )
    assert problems == [
        "NO_DELTA: no longer read, use ENABLE_DELTA_WRITES=false",
        "KAFKA_SESSION_TIMEOUT_MS: got 'abc', expected an integer from 1000 to 3600000",
        "T_COUNT: got '99', expected an integer from 1 to 10",
        "T_SIZE: required, expected an integer from 1 to 10",
        "VPIPE_PLUGINZ: unknown variable (did you mean VPIPE_PLUGINS?)",
    ]


def test_a_variable_shared_by_two_classes_is_reported_once() -> None:
    problems = settings_problems({"a": SampleSettings, "b": SampleSettings}, {"T_COUNT": "x"})
    assert problems == ["T_COUNT: got 'x', expected an integer from 1 to 10"]


# --- discovery -------------------------------------------------------------------------------


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, points: list[EntryPoint]) -> None:
    monkeypatch.setattr(loader, "entry_points", lambda group: points)


def test_discovery_reports_broken_entry_points_without_crashing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    group = "vpipe.settings"
    _fake_entry_points(
        monkeypatch,
        [
            EntryPoint("xact", "vpipe_core.config.core:CoreSettings", group),
            EntryPoint("broken", "vpipe_core.no_such_module:Settings", group),
            EntryPoint("odd", "vpipe_core.config.loader:ConfigError", group),
        ],
    )
    catalogue = discover_settings_classes()
    assert list(catalogue.classes) == ["core", "xact"]
    assert len(catalogue.problems) == 2
    assert "'broken'" in catalogue.problems[0]
    assert "'odd'" in catalogue.problems[1]
    with caplog.at_level(logging.WARNING):
        assert list(all_settings_classes()) == ["core", "xact"]
    assert "no_such_module" in caplog.text


# --- vpipe config ----------------------------------------------------------------------------


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real process variables, no installed settings plugins, no default env file."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    _fake_entry_points(monkeypatch, [])
    monkeypatch.setattr(env_module, "DEFAULT_ENV_FILE", tmp_path / "absent.env")
    monkeypatch.setattr("vpipe_core.registry.load_all_workers", lambda: ([], []))


@pytest.mark.usefixtures("isolated_config")
def test_config_check_accepts_a_good_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "good.env"
    env_file.write_text("KAFKA_BOOTSTRAP_SERVERS=broker:9092\nLOG_LEVEL=warning\n")
    env_file.chmod(0o640)
    result = CliRunner().invoke(config_group, ["check", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    count = len(attrs.fields(CoreSettings))
    assert result.output.strip() == f"OK: {count} variables checked ({env_file})"


@pytest.mark.usefixtures("isolated_config")
def test_config_check_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text(
        "KAFKA_SESSION_TIMEOUT_MS=abc\nKAFKA_SASL_PASSWORD=x\nVPIPE_CONSUMER_GRUOP=g\nNO_DELTA=1\n"
    )
    result = CliRunner().invoke(config_group, ["check", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert "KAFKA_SESSION_TIMEOUT_MS: got 'abc', expected an integer from 1000 to 3600000" in (
        result.output
    )
    assert "VPIPE_CONSUMER_GRUOP: unknown variable (did you mean VPIPE_CONSUMER_GROUP?)" in (
        result.output
    )
    assert "NO_DELTA: no longer read, use ENABLE_DELTA_WRITES=false" in result.output


@pytest.mark.usefixtures("isolated_config")
def test_config_check_exits_2_on_an_unreadable_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "broken.env"
    env_file.write_text("this is not an assignment\n")
    result = CliRunner().invoke(config_group, ["check", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert f"{env_file} line 1" in result.output
    missing = CliRunner().invoke(config_group, ["check", "--env-file", str(tmp_path / "no.env")])
    assert missing.exit_code == 2


@pytest.mark.usefixtures("isolated_config")
def test_config_check_uses_the_process_environment(tmp_path: Path) -> None:
    env_file = _empty_env_file(tmp_path)
    result = CliRunner().invoke(
        config_group, ["check", "--env-file", str(env_file)], env={"TOPIC_PARTITIONS": "0"}
    )
    assert result.exit_code == 2
    assert "TOPIC_PARTITIONS: got '0', expected an integer from 1 to 1000" in result.output


@pytest.mark.usefixtures("isolated_config")
def test_config_show_prints_values_sources_and_masks_secrets(tmp_path: Path) -> None:
    env_file = tmp_path / "show.env"
    env_file.write_text("KAFKA_SASL_PASSWORD=hunter2\nTOPIC_PARTITIONS=12\n")
    result = CliRunner().invoke(
        config_group, ["show", "--env-file", str(env_file)], env={"LOG_LEVEL": "DEBUG"}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"# env file: {env_file}" in lines
    assert "file     KAFKA_SASL_PASSWORD=****" in lines
    assert "file     TOPIC_PARTITIONS=12" in lines
    assert "env      LOG_LEVEL=DEBUG" in lines
    assert "default  KAFKA_BOOTSTRAP_SERVERS=localhost:9094" in lines
    assert "hunter2" not in result.output


def test_the_default_env_file_is_the_one_of_the_install_the_venv_belongs_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = tmp_path / "srv" / "vpipe"
    (install / "config").mkdir(parents=True)
    monkeypatch.setattr("sys.prefix", str(install / "venv"))
    assert env_module.default_env_file() == env_module.DEFAULT_ENV_FILE, "no .env there yet"
    (install / "config" / ".env").write_text("LOG_LEVEL=DEBUG\n")
    assert env_module.default_env_file() == install / "config" / ".env"
    environment = load_environment({}, None)
    assert environment.env_file == install / "config" / ".env"
    assert environment.values["LOG_LEVEL"] == "DEBUG"
