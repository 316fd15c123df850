"""The runtime wheels (vpipe-core, vpipe-xact, vpipe-claimx) carry no test kit: no `testing`
package, no stand-in or demo module, no import of `vpipe_testing`, no `pytest11` or `vpipe.demos`
entry point. The test kit is its own distribution, vpipe-testing (testkit/)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from deploy_facts import REPO

RUNTIME_TREES = ("pyproject.toml", "README.md", "vpipe_core", "plugins")
KIT = REPO / "testkit" / "vpipe_testing"
KIT_ENTRY_POINT_GROUPS = ("pytest11", "vpipe.demos")
KIT_IMPORT = re.compile(rb"^\s*(from|import)\s+vpipe_testing\b", re.MULTILINE)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three runtime wheels, built from a copy of the checkout (nothing written into it)."""
    root = tmp_path_factory.mktemp("runtime-wheels")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for item in RUNTIME_TREES:
        if (REPO / item).is_dir():
            shutil.copytree(REPO / item, source / item, ignore=ignore)
        else:
            shutil.copy(REPO / item, source / item)
    projects = [source, *sorted(path.parent for path in source.glob("plugins/*/pyproject.toml"))]
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*command, "--wheel-dir", str(root / "wheels"), *map(str, projects)],
        check=True,
        capture_output=True,
        env={**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.1"},  # the copy has no git
    )
    built = {path.name.split("-")[0]: path for path in (root / "wheels").glob("*.whl")}
    assert sorted(built) == ["vpipe_claimx", "vpipe_core", "vpipe_xact"]
    return built


def kit_module_contents() -> set[bytes]:
    return {path.read_bytes() for path in KIT.rglob("*.py") if path.stat().st_size > 200}


@pytest.mark.parametrize("name", ["vpipe_core", "vpipe_xact", "vpipe_claimx"])
def test_a_runtime_wheel_has_no_test_kit_module(wheels: dict[str, Path], name: str) -> None:
    kit_modules = kit_module_contents()
    with zipfile.ZipFile(wheels[name]) as wheel:
        names = wheel.namelist()
        problems = [n for n in names if {"testing", "vpipe_testing"} & set(n.split("/"))]
        problems += [n for n in names if re.search(r"(^|/)(demo\w*|fake_\w+)\.py$", n)]
        problems += [n for n in names if n.endswith("pom.xml")]
        for member in (n for n in names if n.endswith(".py")):
            code = wheel.read(member)
            if code in kit_modules or KIT_IMPORT.search(code):
                problems.append(f"{member} (a test kit module, or imports vpipe_testing)")
    assert problems == []


@pytest.mark.parametrize("name", ["vpipe_core", "vpipe_xact", "vpipe_claimx"])
def test_a_runtime_wheel_declares_no_test_kit_entry_point(
    wheels: dict[str, Path], name: str
) -> None:
    with zipfile.ZipFile(wheels[name]) as wheel:
        [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        groups = configparser.ConfigParser(delimiters=("=",))
        groups.read_string(wheel.read(entry_points).decode())
    assert [group for group in KIT_ENTRY_POINT_GROUPS if groups.has_section(group)] == []
    assert groups.has_section("vpipe.settings"), "the entry points were read"


def test_the_test_kit_declares_the_pytest_plugin_and_the_demos() -> None:
    import tomllib

    project = tomllib.loads((REPO / "testkit" / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"vpipe": "vpipe_testing.pytest_plugin"}
    assert set(project["entry-points"]["vpipe.demos"]) == {"xact", "claimx"}
