"""Fixtures: the fake ClaimX API with mitigation assignments, and the plugin loaded through its
real entry point."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mitigation_support import PLUGIN, mitigation_project

from vpipe_core.plugins.manager import load_plugins
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_testing.claimx.fake_api import FakeClaimxApi


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi(projects=[mitigation_project()]) as server:
        yield server


@pytest.fixture
def load_plugin(tmp_path: Path) -> Iterator[Callable[..., PluginSet]]:
    """load_plugin(config_text=None): the installed plugin, strict, with that config file."""
    opened: list[PluginSet] = []

    def load(config_text: str | None = None) -> PluginSet:
        if config_text is not None:
            (tmp_path / f"{PLUGIN}.toml").write_text(config_text)
        plugin_set = load_plugins(selected=[PLUGIN], strict=True, config_dir=tmp_path)
        opened.append(plugin_set)
        return plugin_set

    yield load
    for plugin_set in opened:
        plugin_set.close()
