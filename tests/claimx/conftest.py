from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vpipe_testing.kafka import ensure_cursor_topic, ensure_topics

sys.path.insert(0, str(Path(__file__).parent))  # claimx_fixtures

CLAIMX_TOPICS = [
    "claimx.events.raw",
    "claimx.enrichment.pending",
    "claimx.entities.rows",
    "claimx.downloads.pending",
    "claimx.downloads.cached",
    "claimx.downloads.results",
    "claimx.retry.1s",
    "claimx.retry.2s",
    "claimx.dlq",
    "claimx.events.raw.claimx-ingester.changelog",
    "claimx.downloads.pending.claimx-downloader.changelog",
]


@pytest.fixture
def claimx_kafka(fresh_kafka: str) -> str:
    """A fresh broker with the ClaimX topics (tiers of 1 s and 2 s) and the topics of the
    installed plugins (the enricher runs them; Kafka creates no topic on first produce)."""
    from vpipe_core.plugins.manager import declared_plugin_topics

    ensure_topics(fresh_kafka, [*CLAIMX_TOPICS, *declared_plugin_topics()])
    ensure_cursor_topic(fresh_kafka)
    return fresh_kafka
