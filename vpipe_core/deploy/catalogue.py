"""What the deploy renderers work from: installed worker specs and settings classes, optionally
limited to some domains (a repository renders its own domains, not its test fixtures)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from vpipe_core.config.loader import discover_settings_classes
from vpipe_core.registry import load_all_workers
from vpipe_core.spec import WorkerSpec


class CatalogueError(Exception):
    """Something installed cannot be loaded, or a requested domain does not exist."""


@attrs.frozen
class SettingsSection:
    """One settings class and the `vpipe.settings` entry-point name it is registered under."""

    name: str
    cls: type


def installed_specs(domains: Collection[str] = ()) -> list[WorkerSpec]:
    """Every installed worker spec (of `domains`, when given), sorted by name.

    A worker that fails to load is an error: rendering without it would silently drop its unit.
    """
    specs, failures = load_all_workers()
    if failures:
        details = "; ".join(f"{failure.name}: {failure.error}" for failure in failures)
        raise CatalogueError(f"worker entry points failed to load ({details}); fix them first")
    _check_domains(domains, {spec.domain for spec in specs})
    return [spec for spec in specs if not domains or spec.domain in domains]


def settings_sections(domains: Collection[str] = ()) -> list[SettingsSection]:
    """Installed settings classes, core first, then by name. With `domains`, the classes registered
    under another installed domain's name are left out (shared ones such as Azure's stay)."""
    catalogue = discover_settings_classes()
    if catalogue.problems:
        raise CatalogueError("; ".join(catalogue.problems))
    specs, _ = load_all_workers()
    left_out = {spec.domain for spec in specs} - set(domains) if domains else set()
    kept = [SettingsSection(name, cls) for name, cls in catalogue.classes.items()]
    # Entry points come in installation order; sort so the rendering is the same everywhere.
    kept.sort(key=lambda section: (section.name != "core", section.name))
    return [section for section in kept if section.name not in left_out]


def spec_domains(specs: Sequence[WorkerSpec]) -> list[str]:
    return sorted({spec.domain for spec in specs})


def _check_domains(requested: Collection[str], installed: set[str]) -> None:
    unknown = sorted(set(requested) - installed)
    if unknown:
        raise CatalogueError(
            f"no installed worker has domain {', '.join(unknown)}; "
            f"installed domains: {', '.join(sorted(installed)) or '(none)'}"
        )
