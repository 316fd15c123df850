"""Fixtures: the plugin loaded through its real entry point with a config file, and a webhook
receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from status_trigger_support import PLUGIN, WebhookReceiver

from vpipe_core.plugins.manager import load_plugins
from vpipe_core.plugins.plugin_set import PluginSet


@pytest.fixture
def load_with_config(tmp_path: Path) -> Iterator[Callable[[str], PluginSet]]:
    """Write ``xact_status_trigger.toml`` and load the plugin through its entry point."""
    opened: list[PluginSet] = []

    def load(text: str, *, strict: bool = False) -> PluginSet:
        (tmp_path / f"{PLUGIN}.toml").write_text(text)
        plugin_set = load_plugins(selected=[PLUGIN], strict=strict, config_dir=tmp_path)
        opened.append(plugin_set)
        return plugin_set

    yield load
    for plugin_set in opened:
        plugin_set.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server
