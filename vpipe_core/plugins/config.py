"""A plugin's config file: ``<config_dir>/<plugin name>.toml``.

Shape (nothing else is accepted)::

    enabled = true          # optional, default true
    priority = 50           # optional, overrides PluginInfo.priority
    [config]                # optional, structured into PluginInfo.config_class
    topic = "${NOTIFY_TOPIC:-acme.notifications}"

``${VAR}`` and ``${VAR:-default}`` in the ``[config]`` strings are expanded from the environment;
an unresolved one is an error naming the variable and the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mutable_sequence,
    is_sequence,
    list_structure_factory,
)

TOP_LEVEL_KEYS = ("enabled", "priority", "config")

_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class PluginConfigError(ValueError):
    """A config file that cannot be used; the message names the plugin, the file and the key."""


@attrs.frozen
class PluginSettings:
    """A plugin's settings after reading its file (or the defaults when there is none).

    Attributes:
        enabled: ``False`` keeps the plugin installed but never run.
        priority: the effective priority (the file's, else the plugin's own).
        config: the structured config object handed to the plugin as ``ctx.config``.
        source: the file read, or ``None`` when the defaults were used.
    """

    enabled: bool
    priority: int
    config: Any
    source: Path | None


def config_path(config_dir: Path | None, plugin_name: str) -> Path | None:
    """Where a plugin's config file would be; ``None`` when no directory is configured."""
    return None if config_dir is None else config_dir / f"{plugin_name}.toml"


def read_plugin_settings(
    plugin_name: str,
    config_class: type | None,
    default_priority: int,
    path: Path | None,
    environ: Mapping[str, str],
) -> PluginSettings:
    """Read and validate `path` (missing or ``None``: defaults) for plugin `plugin_name`."""
    where = f"plugin {plugin_name!r}" + (f" ({path})" if path is not None else "")
    if path is None or not path.is_file():
        return PluginSettings(True, default_priority, _structure({}, config_class, where), None)
    document = _read_toml(path, where)
    _check_shape(document, where)
    raw_config = expand_env(document.get("config", {}), environ, where)
    return PluginSettings(
        enabled=document.get("enabled", True),
        priority=document.get("priority", default_priority),
        config=_structure(raw_config, config_class, where),
        source=path,
    )


def expand_env(value: Any, environ: Mapping[str, str], where: str) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string inside `value`."""
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda match: _resolve(match, environ, where), value)
    if isinstance(value, dict):
        return {key: expand_env(item, environ, where) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item, environ, where) for item in value]
    return value


def _resolve(match: re.Match[str], environ: Mapping[str, str], where: str) -> str:
    """Shell rules: ``${VAR:-default}`` uses the default when VAR is unset or empty."""
    name, default = match.group("name"), match.group("default")
    value = environ.get(name)
    if default is not None:
        return value or default
    if value is not None:
        return value
    raise PluginConfigError(f"{where}: environment variable {name} is not set (${{{name}}})")


def _read_toml(path: Path, where: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PluginConfigError(f"{where}: cannot read config file: {error}") from error


def _check_shape(document: Mapping[str, Any], where: str) -> None:
    if "plugin" in document:
        raise PluginConfigError(
            f"{where}: a nested [plugin] block is the old format and is not read; "
            "move its keys to the top level (enabled, priority) and a [config] table"
        )
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise PluginConfigError(
            f"{where}: unknown top-level key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    if not isinstance(document.get("enabled", True), bool):
        raise PluginConfigError(f"{where}: 'enabled' must be true or false")
    priority = document.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise PluginConfigError(f"{where}: 'priority' must be an integer")
    if not isinstance(document.get("config", {}), dict):
        raise PluginConfigError(f"{where}: 'config' must be a table ([config])")


def _structure(raw: dict[str, Any], config_class: type | None, where: str) -> Any:
    if config_class is None:
        if raw:
            raise PluginConfigError(f"{where}: the plugin takes no [config], got {sorted(raw)}")
        return None
    try:
        return _CONVERTER.structure(raw, config_class)
    except Exception as error:  # cattrs groups, TypeError/ValueError from the class itself
        raise PluginConfigError(f"{where}: invalid [config]: {_describe(error)}") from error


def _describe(error: Exception) -> str:
    messages = cattrs.transform_error(error, path="config", format_exception=_with_reason)
    return "; ".join(messages)


def _with_reason(exc: BaseException, type_: type | None) -> str:
    """cattrs' wording, plus the validator's own reason (which cattrs drops)."""
    message = cattrs.v.format_exception(exc, type_)
    if isinstance(exc, ValueError) and str(exc) and str(exc) not in message:
        message = f"{message}: {exc}"
    return message


def _strict(kind: type, *, accept: tuple[type, ...] = ()) -> Any:
    """A structure hook that takes values of `kind` as they are instead of coercing them."""
    allowed = (kind, *accept)

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, allowed):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return kind(value)

    return structure


def _not_from_text(factory: Callable[[Any, cattrs.Converter], Any]) -> Any:
    """Wrap a cattrs list/tuple hook factory so a string is refused, not split into letters."""

    def wrapped_factory(type_: Any, converter: cattrs.Converter) -> Any:
        structure_items = factory(type_, converter)

        def structure(value: Any, type_arg: Any) -> Any:
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return structure_items(value, type_arg)

        return structure

    return wrapped_factory


def _make_converter() -> cattrs.Converter:
    """cattrs with unknown keys forbidden and no silent coercion (``None`` never becomes
    ``"None"``, ``"5"`` never becomes 5, ``"a@b"`` never becomes a list of letters): TOML values
    already carry their types."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict(str))
    converter.register_structure_hook(int, _strict(int))
    converter.register_structure_hook(float, _strict(float, accept=(int,)))
    converter.register_structure_hook(bool, _strict(bool))
    converter.register_structure_hook_factory(
        is_sequence, _not_from_text(homogenous_tuple_structure_factory)
    )
    converter.register_structure_hook_factory(
        is_mutable_sequence, _not_from_text(list_structure_factory)
    )
    return converter


_CONVERTER = _make_converter()
