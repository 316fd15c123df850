"""The installed vpipe distributions and their versions (from git, through setuptools-scm)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distributions, version

UNKNOWN = "unknown"


def core_version() -> str:
    """vpipe-core's installed version; "unknown" when it runs from a tree nobody installed."""
    try:
        return version("vpipe-core")
    except PackageNotFoundError:
        return UNKNOWN


def installed_versions() -> dict[str, str]:
    """Every installed distribution whose name starts with "vpipe", vpipe-core first."""
    found: dict[str, str] = {}
    for dist in distributions():  # in sys.path order: the first of a name is the one imported
        if dist.metadata["Name"].lower().startswith("vpipe"):
            found.setdefault(dist.metadata["Name"], dist.version)
    found.setdefault("vpipe-core", core_version())
    order = sorted(found, key=lambda name: (name != "vpipe-core", name))
    return {name: found[name] for name in order}
