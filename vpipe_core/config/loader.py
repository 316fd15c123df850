"""Typed settings from the effective environment (runtime.md §7).

Settings classes are attrs classes whose fields were declared with `setting()`; each value is
parsed by the field's annotation (`forms`), every problem is collected, and one `ConfigError`
lists them all. The environment itself is read by `environment`, the guards against unknown and
retired names are in `guards`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypeVar

import attrs
import cattrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.fields import ENV, HELP, MAX, MIN, env_name, is_secret, with_domain_prefix
from vpipe_core.config.forms import ValueForm, split_optional, value_form

T = TypeVar("T")

logger = logging.getLogger(__name__)

SETTINGS_ENTRY_POINT_GROUP = "vpipe.settings"
MASKED = "****"


class ConfigError(Exception):
    """One or more configuration problems; `str()` lists them one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- settings classes ------------------------------------------------------------------------


def settings_fields(cls: type) -> tuple[attrs.Attribute, ...]:
    """The fields of a settings class, annotations resolved; TypeError if it is not one."""
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    attrs.resolve_types(cls)
    fields = tuple(with_domain_prefix(cls, field) for field in attrs.fields(cls))
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
    from vpipe_core.logs.redact import register_secret

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
