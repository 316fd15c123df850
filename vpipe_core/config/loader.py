"""Typed settings from the effective environment (runtime.md §7).

The effective environment is the process environment over the optional `.env` file. Settings
classes are attrs classes whose fields were declared with `setting()`; each value is parsed by the
field's annotation, every problem is collected, and one `ConfigError` lists them all.
"""

from __future__ import annotations

import difflib
import enum
import logging
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.envfile import EnvFileError, ExpansionError, expand_references, read_env_file
from vpipe_core.config.fields import ENV, HELP, MAX, MIN, env_name, is_secret

T = TypeVar("T")

logger = logging.getLogger(__name__)

ENV_FILE_VARIABLE = "VPIPE_ENV_FILE"
DEFAULT_ENV_FILE = Path("/opt/kafka-pipeline/config/.env")
SETTINGS_ENTRY_POINT_GROUP = "vpipe.settings"
CORE_PREFIX = "VPIPE_"
MASKED = "****"

# Read by the loader itself rather than by a settings class.
LOADER_VARIABLES = frozenset({ENV_FILE_VARIABLE})

LEGACY_REPLACEMENTS: Mapping[str, str] = {
    "LOCAL_KAFKA_BOOTSTRAP_SERVERS": "KAFKA_BOOTSTRAP_SERVERS",
    "POLL_INTERVAL_SECONDS": "XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS",
    "POLL_BATCH_SIZE": "XACT_EVENTHOUSE_BATCH_SIZE",
    "DELTA_EVENTS_TABLE_PATH": "XACT_DELTA_EVENTS_TABLE",
    "DELTA_INVENTORY_TABLE_PATH": "XACT_DELTA_INVENTORY_TABLE",
    "DELTA_FAILED_TABLE_PATH": "XACT_DELTA_FAILED_TABLE",
    "CLAIMX_API_BASE_URL": "CLAIMX_API_URL",
    "CLAIMX_API_BASE_PATH": "CLAIMX_API_URL",
    "CLAIMX_API_KEY": "CLAIMX_API_TOKEN",
    "NO_DELTA": "ENABLE_DELTA_WRITES=false",
    "AZURE_TOKEN_FILE": "AZURE_AUTH_METHOD=cli",
    "CLAIMX_API_RATE_LIMIT": "CLAIMX_API_RATE_LIMIT_PER_SECOND",
}

LEGACY_PREFIXES: Mapping[str, str] = {
    "XACT_S3_": "not used: downloads rely on presigned URLs",
    "CLAIMX_S3_": "not used: downloads rely on presigned URLs",
}

BOOL_WORDS: Mapping[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
}


class ConfigError(Exception):
    """One or more configuration problems; `str()` lists them one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- the effective environment ---------------------------------------------------------------


@attrs.frozen
class EffectiveEnvironment:
    values: dict[str, str]
    from_file: frozenset[str]  # names whose value came from the .env file
    env_file: Path | None  # the file that was read, None when the default file is absent
    problems: tuple[str, ...] = ()  # lines and references that could not be read (left out)


def load_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> EffectiveEnvironment:
    """The process environment over the `.env` file, expanded, and where each value came from."""
    process = dict(os.environ if environ is None else environ)
    path, named_by = _env_file_location(process, env_file)
    problems: list[str] = []
    file_values = _read_file_layer(path, named_by, process, problems)
    file_layer = file_values if file_values is not None else {}
    process_values = _expand_process_values(process, file_layer, problems)
    return EffectiveEnvironment(
        values={**file_layer, **process_values},
        from_file=frozenset(file_layer.keys() - process_values.keys()),
        env_file=None if file_values is None else path,
        problems=tuple(problems),
    )


def effective_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Process environment (default `os.environ`) over the `.env` file; raises ConfigError."""
    environment = load_environment(environ, env_file)
    if environment.problems:
        raise ConfigError(list(environment.problems))
    return environment.values


def _env_file_location(
    process: Mapping[str, str], env_file: Path | None
) -> tuple[Path, str | None]:
    """The file to read and who named it (None for the default file, which may be absent)."""
    if env_file is not None:
        return env_file, "--env-file"
    named = process.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        return Path(named), ENV_FILE_VARIABLE
    return default_env_file(), None


def default_env_file() -> Path:
    """The `.env` of the install this interpreter belongs to (`<install dir>/venv` next to
    `<install dir>/config/.env`, whatever `install.sh --install-dir` was), else
    DEFAULT_ENV_FILE."""
    beside_venv = Path(sys.prefix).parent / "config" / ".env"
    return beside_venv if beside_venv.is_file() else DEFAULT_ENV_FILE


def _read_file_layer(
    path: Path, named_by: str | None, process: Mapping[str, str], problems: list[str]
) -> dict[str, str] | None:
    """The file's values (its unreadable lines left out, in `problems`), None when the default
    file is absent."""
    try:
        return read_env_file(path, process)
    except FileNotFoundError:
        if named_by is None:
            return None
        raise ConfigError([f"env file {path} does not exist (named by {named_by})"]) from None
    except EnvFileError as exc:
        problems.extend(exc.problems)
        return exc.values


def _expand_process_values(
    process: Mapping[str, str], file_values: Mapping[str, str], problems: list[str]
) -> dict[str, str]:
    expanded: dict[str, str] = {}
    for name, value in process.items():
        # Names that are not identifiers (exported shell functions such as `BASH_FUNC_module%%`)
        # hold shell code, not configuration; expanding them would report `${x+y}` as errors.
        if "${" not in value or not name.isidentifier():
            expanded[name] = value
            continue
        try:
            expanded[name] = expand_references(value, (process, file_values))
        except ExpansionError as exc:
            problems.append(f"{name}: {exc} (process environment)")
    return expanded


# --- value forms -----------------------------------------------------------------------------


@attrs.frozen
class ValueForm:
    """What a variable must look like: `description` for messages, `parse` raises ValueError."""

    description: str
    parse: Callable[[str], object]


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {_number_text(minimum)} to {_number_text(maximum)}"
    if minimum is not None:
        return f" of at least {_number_text(minimum)}"
    if maximum is not None:
        return f" of at most {_number_text(maximum)}"
    return ""


def _check_range(number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ValueError("below minimum")
    if maximum is not None and number > maximum:
        raise ValueError("above maximum")


def _integer_parser(minimum: float | None, maximum: float | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        number = int(raw.strip())
        _check_range(number, minimum, maximum)
        return number

    return parse


def _float_parser(minimum: float | None, maximum: float | None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        number = float(raw.strip())
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        _check_range(number, minimum, maximum)
        return number

    return parse


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in BOOL_WORDS:
        raise ValueError("not a boolean word")
    return BOOL_WORDS[word]


def _enum_parser(enum_class: type[enum.Enum]) -> Callable[[str], enum.Enum]:
    members = {str(member.value).lower(): member for member in enum_class}

    def parse(raw: str) -> enum.Enum:
        key = raw.strip().lower()
        if key not in members:
            raise ValueError("not a member")
        return members[key]

    return parse


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("empty path")
    return Path(raw.strip())


def _list_items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _integer_list_parser(
    minimum: float | None, maximum: float | None
) -> Callable[[str], tuple[int, ...]]:
    parse_item = _integer_parser(minimum, maximum)
    return lambda raw: tuple(parse_item(item) for item in _list_items(raw))


def value_form(
    annotation: Any, minimum: float | None = None, maximum: float | None = None
) -> ValueForm:
    """The form of a (non-optional) setting annotation; TypeError for an unsupported one."""
    range_text = _range_text(minimum, maximum)
    if annotation is bool:
        return ValueForm("one of true, false, 1, 0, yes, no", _parse_bool)
    if annotation is int:
        return ValueForm(f"an integer{range_text}", _integer_parser(minimum, maximum))
    if annotation is float:
        return ValueForm(f"a number{range_text}", _float_parser(minimum, maximum))
    if annotation is str:
        return ValueForm("a string", str)
    if annotation is Path:
        return ValueForm("a path", _parse_path)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = ", ".join(str(member.value) for member in annotation)
        return ValueForm(f"one of {choices}", _enum_parser(annotation))
    if annotation == tuple[int, ...]:
        return ValueForm(
            f"a comma-separated list of integers{range_text}",
            _integer_list_parser(minimum, maximum),
        )
    if annotation == tuple[str, ...]:
        return ValueForm("a comma-separated list", lambda raw: tuple(_list_items(raw)))
    raise TypeError(f"unsupported setting type {annotation!r}")


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` → (X, True); anything else → (annotation, False)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation, False
    members = [member for member in typing.get_args(annotation) if member is not type(None)]
    if len(members) != 1:
        raise TypeError(f"unsupported setting type {annotation!r}: only `X | None` unions")
    return members[0], True


# --- settings classes ------------------------------------------------------------------------


def settings_fields(cls: type) -> tuple[attrs.Attribute, ...]:
    """The fields of a settings class, annotations resolved; TypeError if it is not one."""
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    attrs.resolve_types(cls)
    fields = attrs.fields(cls)
    undeclared = [field.name for field in fields if ENV not in field.metadata]
    if undeclared:
        raise TypeError(f"{cls.__name__}: fields not declared with setting(): {undeclared}")
    return fields


def declared_names(cls: type) -> list[str]:
    return [env_name(field) for field in settings_fields(cls)]


class _FieldProblem(Exception):
    pass


_UNSET = object()


def _field_form(field: attrs.Attribute) -> tuple[ValueForm, bool]:
    annotation, optional = split_optional(field.type)
    try:
        form = value_form(annotation, field.metadata.get(MIN), field.metadata.get(MAX))
    except TypeError as exc:
        raise TypeError(f"{env_name(field)}: {exc}") from exc
    return form, optional


def _read_field(field: attrs.Attribute, env: Mapping[str, str]) -> object:
    """The typed value of `field`, or _UNSET to keep its default; raises _FieldProblem."""
    name = env_name(field)
    form, optional = _field_form(field)
    raw = env.get(name)
    if raw is None:
        if field.default is attrs.NOTHING:
            raise _FieldProblem(f"{name}: required, expected {form.description}")
        return _UNSET
    if optional and not raw.strip():
        return None
    try:
        return form.parse(raw)
    except ValueError:
        shown = mask(raw) if is_secret(field) else raw
        raise _FieldProblem(f"{name}: got '{shown}', expected {form.description}") from None


def _read_fields(cls: type, env: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    problems: list[str] = []
    for field in settings_fields(cls):
        try:
            value = _read_field(field, env)
        except _FieldProblem as problem:
            problems.append(str(problem))
            continue
        if value is not _UNSET:
            values[field.name] = value
    if problems:
        raise ConfigError(problems)
    return values


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(Path, lambda value, _: Path(value))


def _exception_messages(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [message for inner in exc.exceptions for message in _exception_messages(inner)]
    return [str(exc)]


def load_settings(cls: type[T], env: Mapping[str, str]) -> T:
    """An instance of settings class `cls` read from `env`; ConfigError lists every problem."""
    values = _read_fields(cls, env)
    try:
        return _converter.structure(values, cls)
    except cattrs.BaseValidationError as exc:
        # The class's own validators (cross-field checks) reject the parsed values.
        raise ConfigError(
            [f"{cls.__name__}: {message}" for message in _exception_messages(exc)]
        ) from exc


# --- guards ----------------------------------------------------------------------------------


def legacy_problem(name: str) -> str | None:
    """The problem for a legacy variable name, None if `name` is not one."""
    if name in LEGACY_REPLACEMENTS:
        return f"{name}: no longer read, use {LEGACY_REPLACEMENTS[name]}"
    for prefix, reason in LEGACY_PREFIXES.items():
        if name.startswith(prefix):
            return f"{name}: {reason}"
    return None


def legacy_problems(env: Mapping[str, str]) -> list[str]:
    return [problem for name in sorted(env) if (problem := legacy_problem(name)) is not None]


def unknown_variables(
    env: Mapping[str, str], known_names: set[str], prefixes: set[str]
) -> list[str]:
    """Names in `env` with a guarded prefix that no settings class declares (typo guard)."""
    accepted = known_names | LOADER_VARIABLES | _domain_retry_delay_names(prefixes)
    candidates = sorted(accepted)
    problems: list[str] = []
    for name in sorted(env):
        if name in accepted or not name.startswith(tuple(prefixes)):
            continue
        if legacy_problem(name) is not None:
            continue  # reported by the legacy guard with its replacement
        problems.append(_unknown_variable_problem(name, candidates))
    return problems


def _domain_retry_delay_names(prefixes: Iterable[str]) -> set[str]:
    # The retry module reads `<DOMAIN>_RETRY_DELAYS` itself; VPIPE_ is not a domain.
    return {f"{prefix}RETRY_DELAYS" for prefix in prefixes if prefix != CORE_PREFIX}


def _unknown_variable_problem(name: str, candidates: list[str]) -> str:
    suggestions = difflib.get_close_matches(name, candidates, n=1)
    if suggestions:
        return f"{name}: unknown variable (did you mean {suggestions[0]}?)"
    return f"{name}: unknown variable"


def typo_guard_prefixes(domains: Iterable[str]) -> set[str]:
    """`VPIPE_` plus `<DOMAIN>_` for every settings domain other than core."""
    return {CORE_PREFIX} | {
        domain.upper().replace("-", "_") + "_" for domain in domains if domain != "core"
    }


def settings_problems(classes: Mapping[str, type], env: Mapping[str, str]) -> list[str]:
    """Every problem of the settings `classes` (domain → class) in `env`, plus both guards."""
    problems = legacy_problems(env)
    known_names: set[str] = set()
    for cls in classes.values():
        known_names.update(declared_names(cls))
        try:
            load_settings(cls, env)
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems.extend(unknown_variables(env, known_names, typo_guard_prefixes(classes)))
    # Classes may share a variable; report its problem once.
    return list(dict.fromkeys(problems))


# --- discovery and description ---------------------------------------------------------------


@attrs.frozen
class SettingsCatalogue:
    classes: dict[str, type]  # domain → settings class, "core" first
    problems: list[str]  # entry points that could not be loaded


def discover_settings_classes() -> SettingsCatalogue:
    """CoreSettings plus every class registered under the `vpipe.settings` entry-point group."""
    classes: dict[str, type] = {"core": CoreSettings}
    problems: list[str] = []
    for entry_point in entry_points(group=SETTINGS_ENTRY_POINT_GROUP):
        where = f"settings entry point {entry_point.name!r} ({entry_point.value})"
        if entry_point.name in classes:
            problems.append(f"{where}: duplicate name")
            continue
        try:
            loaded = entry_point.load()
            settings_fields(loaded)
        except Exception as exc:  # one broken plugin must not hide the others' problems
            problems.append(f"{where}: cannot load: {exc}")
            continue
        classes[entry_point.name] = loaded
    return SettingsCatalogue(classes=classes, problems=problems)


def all_settings_classes() -> dict[str, type]:
    """Domain → settings class; entry points that fail to load are logged and skipped."""
    catalogue = discover_settings_classes()
    for problem in catalogue.problems:
        logger.warning("%s", problem)
    return catalogue.classes


def register_secret_settings(cls: type, env: Mapping[str, str]) -> None:
    """Redact from now on the values `env` gives the secret settings of `cls`."""
    from vpipe_core.redact import register_secret

    for field in settings_fields(cls):
        value = env.get(env_name(field))
        if is_secret(field) and value:
            register_secret(value)


def format_value(value: object) -> str:
    """A typed setting value written back in its environment form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return ",".join(format_value(item) for item in value)
    return str(value)


def _default_text(field: attrs.Attribute) -> str:
    default = field.default
    if default is attrs.NOTHING:
        return "(required)"
    if default is None:
        return "(unset)"
    return mask(format_value(default)) if is_secret(field) else format_value(default)


def describe(cls: type) -> list[tuple[str, str, str, bool]]:
    """(env name, default as text, help, secret) for every setting of `cls`."""
    return [
        (env_name(field), _default_text(field), str(field.metadata.get(HELP, "")), is_secret(field))
        for field in settings_fields(cls)
    ]


def mask(value: str) -> str:
    """A secret for display: `****`, or empty when there is nothing to hide."""
    return MASKED if value else ""
