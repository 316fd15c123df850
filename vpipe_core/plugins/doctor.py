"""`vpipe plugins doctor`: every installed plugin and every config file checked, one row each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from vpipe_core.plugins.manager import (
    DEFAULT_GROUP,
    NOT_INSTALLED,
    build_plugin_set,
    discover_plugins,
)
from vpipe_core.plugins.plugin_set import LoadedPlugin, PluginProblem


@attrs.frozen
class DoctorRow:
    """One line of ``vpipe plugins doctor``.

    Attributes:
        name: the plugin (entry-point) name, or a config file's stem.
        version: the plugin's version, ``"-"`` when unknown.
        status: ``"ok"`` or ``"error"``.
        detail: the error, or a note (``disabled``, ``not selected``).
    """

    name: str
    version: str
    status: str
    detail: str = ""


def doctor(
    *,
    config_dir: Path | None,
    selected: Sequence[str] | None = None,
    group: str = DEFAULT_GROUP,
    environ: Mapping[str, str] | None = None,
) -> list[DoctorRow]:
    """Check every installed plugin (selected or not) and every config file; one row each."""
    candidates, problems = discover_plugins(group, None)
    if selected is not None:
        installed = {candidate.name for candidate in candidates} | {p.name for p in problems}
        problems += [
            PluginProblem(name, NOT_INSTALLED, f"selected but not installed (group {group!r})")
            for name in selected
            if name not in installed
        ]
    with build_plugin_set(
        candidates, strict=False, config_dir=config_dir, environ=environ, known_problems=problems
    ) as plugin_set:
        rows = [_plugin_row(plugin, selected) for plugin in plugin_set.plugins]
        rows += [_plugin_row(plugin, selected) for plugin in plugin_set.disabled]
        rows += [DoctorRow(p.name, "-", "error", p.error) for p in plugin_set.problems]
    known = {row.name for row in rows}
    rows += _orphan_config_rows(config_dir, known)
    return sorted(rows, key=lambda row: row.name)


def _plugin_row(plugin: LoadedPlugin, selected: Sequence[str] | None) -> DoctorRow:
    notes = []
    if not plugin.enabled:
        notes.append(f"disabled in {plugin.settings.source}")
    if selected is not None and plugin.name not in selected:
        notes.append("not selected (VPIPE_PLUGINS)")
    return DoctorRow(plugin.name, plugin.info.version, "ok", "; ".join(notes))


def _orphan_config_rows(config_dir: Path | None, known: set[str]) -> list[DoctorRow]:
    if config_dir is None or not config_dir.is_dir():
        return []
    return [
        DoctorRow(path.stem, "-", "error", f"config file {path} matches no installed plugin")
        for path in sorted(config_dir.glob("*.toml"))
        if path.stem not in known
    ]
