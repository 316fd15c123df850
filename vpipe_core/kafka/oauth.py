"""OAUTHBEARER for librdkafka: tokens from the process's one Azure credential (runtime.md §6).

Both the pipeline broker (`KAFKA_SASL_MECHANISM=OAUTHBEARER`) and the Event Hub source
(`EVENTHUB_AUTH=aad`) authenticate this way; the method is `AZURE_AUTH_METHOD`'s, like every
other Azure call. The Azure SDK is imported at the first token, not with the client settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

log = logging.getLogger("vpipe.kafka.oauth")

TokenCallback = Callable[[str], tuple[str, float]]


def default_scope(servers: str) -> str:
    """`https://<first bootstrap host>/.default`, the audience Azure Event Hubs' Kafka endpoint
    expects a token for."""
    host = urlsplit("//" + servers.split(",")[0].strip()).hostname
    return f"https://{host}/.default"


def token_callback(scope: str, env: Mapping[str, str] | None = None) -> TokenCallback:
    """librdkafka's `oauth_cb`: (token, expiry in epoch seconds) for `scope`. `env`: what the
    shared credential is built from on first use; None reads the effective environment then
    (the process environment over the `.env` file). A failure is logged with its reason before
    it is raised: confluent-kafka keeps only "OAuth callback raised exception"."""

    def token(_oauthbearer_config: str) -> tuple[str, float]:
        from vpipe_core.azure_auth import shared_credential
        from vpipe_core.config.environment import effective_environment

        try:
            credential = shared_credential(effective_environment() if env is None else env)
            access = credential.get_token(scope)
        except Exception as exc:
            log.error(
                "no OAUTHBEARER token for the Kafka clients: %s; check the AZURE_* settings "
                "(AZURE_AUTH_METHOD) and the scope",
                exc,
                extra={"scope": scope},
            )
            raise
        return access.token, float(access.expires_on)

    return token
