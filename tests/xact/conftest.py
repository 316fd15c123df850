from __future__ import annotations

import pytest

from vpipe_testing.kafka import ensure_cursor_topic, ensure_topics

XACT_TOPICS = [
    "xact.events.raw",
    "xact.enrichment.pending",
    "xact.downloads.pending",
    "xact.downloads.cached",
    "xact.downloads.results",
    "xact.retry.1s",
    "xact.retry.2s",
    "xact.dlq",
    "xact.events.raw.xact-event-ingester.changelog",
    "xact.downloads.pending.xact-download.changelog",
]


@pytest.fixture
def xact_kafka(fresh_kafka: str) -> str:
    """A fresh broker with the XACT topics (tiers of 1 s and 2 s)."""
    ensure_topics(fresh_kafka, XACT_TOPICS)
    ensure_cursor_topic(fresh_kafka)
    return fresh_kafka
