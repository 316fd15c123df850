"""The test kit's own variables, declared like any package's (entry point `vpipe.settings`,
name `testkit`) so `vpipe config check` knows them where the kit is installed and flags them as
unknown where it is not. The kit reads them from its process environment; no worker does."""

from __future__ import annotations

from pathlib import Path

import attrs

from vpipe_core.config.fields import setting


@attrs.frozen
class KitSettings:
    broker: str | None = setting(
        "VPIPE_TEST_BROKER", None, help="test broker: kafka or local (default kafka where java is)"
    )
    bootstrap: str | None = setting(
        "VPIPE_TEST_BOOTSTRAP", None, help="an external test broker instead of a started one"
    )
    kafka_cache: Path | None = setting(
        "VPIPE_TEST_KAFKA_CACHE", None, help="Apache Kafka's jars (default ~/.cache/vpipe/kafka)"
    )
    promtool_cache: Path | None = setting(
        "VPIPE_TEST_PROMTOOL_CACHE", None, help="promtool (default ~/.cache/vpipe/promtool)"
    )
