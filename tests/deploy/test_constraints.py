"""deploy/constraints.txt pins every dependency the vpipe packages declare (install.sh uses it)."""

from __future__ import annotations

from importlib.metadata import distribution

from deploy_facts import DEPLOY, REGENERATE_CONSTRAINTS, SHIPPED_PACKAGES
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vpipe_core.deploy.catalogue import CORE_PACKAGE
from vpipe_core.deploy.lock import CORE_EXTRAS, package_roots

CONSTRAINTS = DEPLOY / "constraints.txt"


def pinned() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def direct_requirements() -> set[str]:
    """What vpipe-core (with the extras a full install uses) and the domain packages declare."""
    roots = package_roots(SHIPPED_PACKAGES)
    names = set()
    for root in roots:
        extras = CORE_EXTRAS if root == CORE_PACKAGE else frozenset()
        for raw in distribution(root).requires or ():
            requirement = Requirement(raw)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
                names.add(canonicalize_name(requirement.name))
    return names - {canonicalize_name(root) for root in roots}


def test_every_declared_dependency_is_pinned():
    missing = sorted(direct_requirements() - pinned().keys())
    assert not missing, f"not in deploy/constraints.txt: {missing}; run: {REGENERATE_CONSTRAINTS}"


def test_pins_are_exact_versions():
    assert all(version and "," not in version for version in pinned().values())
    assert not any(name.startswith("vpipe-") for name in pinned()), "own packages come from source"
