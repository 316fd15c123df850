"""Variables every domain's poller shares (runtime.md §6/§7), registered under `vpipe.settings`
as `eventsource`. Each domain adds its own `<DOMAIN>_EVENT_SOURCE`, `<DOMAIN>_EVENTHOUSE_*`,
`<DOMAIN>_EVENTHUB_*` and `<DOMAIN>_SAMPLE_EVENTS_FILE` overrides, declared once by
`vpipe_core.domain.settings.DomainSettings`, the base of every domain's settings class."""

from __future__ import annotations

import enum

import attrs

from vpipe_core.config.core import OffsetReset
from vpipe_core.config.fields import setting


class EventSource(enum.StrEnum):
    EVENTHOUSE = "eventhouse"
    EVENTHUB = "eventhub"
    SAMPLE = "sample"


class EventhouseAuth(enum.StrEnum):
    AZURE = "azure"  # the shared Azure credential (runtime.md §8)
    NONE = "none"  # no token; plain http allowed (a local server such as the test kit's Kusto)


class EventHubAuth(enum.StrEnum):
    CONNECTION_STRING = "connection-string"
    AAD = "aad"


@attrs.frozen
class EventSourceSettings:
    event_source: EventSource = setting(
        "EVENT_SOURCE", EventSource.EVENTHOUSE, help="where pollers read events"
    )
    eventhouse_cluster_url: str | None = setting(
        "EVENTHOUSE_CLUSTER_URL", None, help="Eventhouse cluster shared by the domains"
    )
    eventhouse_auth: EventhouseAuth = setting(
        "EVENTHOUSE_AUTH",
        EventhouseAuth.AZURE,
        help="azure (shared credential, https only) or none (no token, http allowed: local tests)",
    )
    eventhouse_proxy_url: str | None = setting(
        "EVENTHOUSE_PROXY_URL", None, help="explicit proxy for Kusto (default HTTPS_PROXY)"
    )
    eventhub_bootstrap_servers: str | None = setting(
        "EVENTHUB_BOOTSTRAP_SERVERS", None, help="Event Hub Kafka endpoint <namespace>:9093"
    )
    eventhub_security_protocol: str = setting(
        "EVENTHUB_SECURITY_PROTOCOL", "SASL_SSL", help="SASL_SSL (PLAINTEXT for local tests)"
    )
    eventhub_auth: EventHubAuth = setting(
        "EVENTHUB_AUTH", EventHubAuth.CONNECTION_STRING, help="connection-string or aad"
    )
    eventhub_connection_string: str | None = setting(
        "EVENTHUB_CONNECTION_STRING", None, help="Event Hub connection string", secret=True
    )
    eventhub_auto_offset_reset: OffsetReset = setting(
        "EVENTHUB_AUTO_OFFSET_RESET", OffsetReset.LATEST, help="first start position"
    )
    sample_events_per_minute: int = setting(
        "SAMPLE_EVENTS_PER_MINUTE", 60, min=1, max=600000, help="sample source replay rate"
    )
