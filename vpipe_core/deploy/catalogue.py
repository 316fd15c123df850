"""What the deploy renderers work from: installed worker specs and settings classes, optionally
limited to the ones some distributions register (a repository renders its own packages, not the
test or example packages installed next to them)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from importlib.metadata import entry_points

import attrs

from vpipe_core.config.loader import SETTINGS_ENTRY_POINT_GROUP, discover_settings_classes
from vpipe_core.registry import WORKERS_NAMESPACE, load_all_workers
from vpipe_core.spec import WorkerSpec

CORE_PACKAGE = "vpipe-core"


class CatalogueError(Exception):
    """Something installed cannot be loaded, or a requested domain or package has no workers."""


@attrs.frozen
class SettingsSection:
    """One settings class and the `vpipe.settings` entry-point name it is registered under."""

    name: str
    cls: type


def installed_specs(
    domains: Collection[str] = (), packages: Collection[str] = ()
) -> list[WorkerSpec]:
    """Every installed worker spec, sorted by name; with `domains` or `packages`, only those of
    these domains / registered by these distributions.

    A worker that fails to load is an error: rendering without it would silently drop its unit.
    """
    specs, failures = load_all_workers()
    if failures:
        details = "; ".join(f"{failure.name}: {failure.error}" for failure in failures)
        raise CatalogueError(f"worker entry points failed to load ({details}); fix them first")
    _check_known("domain", domains, {spec.domain for spec in specs})
    owners = worker_packages()
    wanted = {normal(package) for package in packages}
    _check_known("package", wanted, set(owners.values()))
    return [
        spec
        for spec in specs
        if (not domains or spec.domain in domains) and (not wanted or owners[spec.name] in wanted)
    ]


def settings_sections(packages: Collection[str] = ()) -> list[SettingsSection]:
    """Installed settings classes, core first, then by name; with `packages`, only those that
    vpipe-core and these distributions register."""
    catalogue = discover_settings_classes()
    if catalogue.problems:
        raise CatalogueError("; ".join(catalogue.problems))
    owners = _owners(SETTINGS_ENTRY_POINT_GROUP)
    wanted = {normal(package) for package in packages} | {CORE_PACKAGE}
    sections = [
        SettingsSection(name, cls)
        for name, cls in catalogue.classes.items()
        if not packages or name == "core" or owners.get(name) in wanted
    ]
    # Entry points come in installation order; sort so the rendering is the same everywhere.
    return sorted(sections, key=lambda section: (section.name != "core", section.name))


def worker_packages() -> dict[str, str]:
    """Worker name → the (normalised) name of the distribution registering it."""
    return _owners(WORKERS_NAMESPACE)


def spec_domains(specs: Sequence[WorkerSpec]) -> list[str]:
    return sorted({spec.domain for spec in specs})


def normal(name: str) -> str:
    """A distribution name as pip compares them: `vpipe_acme` and `vpipe-acme` are the same."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _owners(group: str) -> dict[str, str]:
    return {
        entry_point.name: normal(entry_point.dist.name)
        for entry_point in entry_points(group=group)
        if entry_point.dist is not None
    }


def _check_known(what: str, requested: Collection[str], installed: set[str]) -> None:
    unknown = sorted(set(requested) - installed)
    if unknown:
        raise CatalogueError(
            f"no installed worker has {what} {', '.join(unknown)}; "
            f"installed: {', '.join(sorted(installed)) or '(none)'}"
        )
