"""The ClaimX REST API client (claimx.md §11).

One client per process, shared by its threads::

    settings = ctx.settings_for(ClaimxSettings)
    api = ClaimxApi.from_settings(settings, ctx.settings.ca_bundle, env=ctx.env)
    try:
        export = api.project("5517342")
    except ApiError as error:
        ...  # error.category: PERMANENT → dead; TRANSIENT / AUTH → retry, not before
        # error.retry_after_s (Retry-After, or the time left while the circuit is open)

Tests run it against `vpipe_testing.claimx.fake_api.FakeClaimxApi`.
"""

from vpipe_claimx.api.client import CIRCUIT_NAME, CircuitLimits, ClaimxApi
from vpipe_claimx.api.errors import CIRCUIT_OPEN, EMPTY_RESPONSE, ApiError, Endpoint
from vpipe_core.retry.circuit import CircuitState

__all__ = [
    "CIRCUIT_NAME",
    "CIRCUIT_OPEN",
    "EMPTY_RESPONSE",
    "ApiError",
    "CircuitLimits",
    "CircuitState",
    "ClaimxApi",
    "Endpoint",
]
