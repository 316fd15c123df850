"""deploy/constraints.txt: the versions of every dependency the vpipe packages were tested with.

The closure is read from the installed distributions' metadata (so run it in a venv built from
the checkout); install.sh passes the file to pip as constraints. Uses `packaging`, which the
development and test environments have; the runtime never imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution

from vpipe_core.deploy.catalogue import CORE_PACKAGE, normal, worker_packages

HEADER = """\
# Versions the vpipe packages were tested with; install.sh passes this file to pip (-c).
# Rendered by `vpipe deploy constraints` from the installed distributions: regenerate it in the
# development venv after changing a dependency."""
CORE_EXTRAS = frozenset({"delta", "transfer", "azure"})  # what a full install needs


class LockError(Exception):
    """A dependency is not installed, so its tested version is unknown."""


def package_roots(packages: Iterable[str]) -> list[str]:
    """vpipe-core and `packages`, or every distribution registering workers when empty."""
    chosen = {normal(package) for package in packages} or set(worker_packages().values())
    return [CORE_PACKAGE, *sorted(chosen - {CORE_PACKAGE})]


def pinned_dependencies(roots: Iterable[str]) -> dict[str, str]:
    """Canonical name → installed version of everything `roots` need (the roots excluded)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root_names = {canonicalize_name(root) for root in roots}
    pins: dict[str, str] = {}
    pending = [(root, CORE_EXTRAS if root == CORE_PACKAGE else frozenset()) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError as exc:
            raise LockError(f"{name} is not installed; install the packages first") from exc
        if key[0] not in root_names:
            pins[key[0]] = dist.version
        for raw in dist.requires or ():
            requirement = Requirement(raw)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return dict(sorted(pins.items()))


def render_constraints(pins: dict[str, str]) -> str:
    return HEADER + "\n" + "".join(f"{name}=={version}\n" for name, version in pins.items())
