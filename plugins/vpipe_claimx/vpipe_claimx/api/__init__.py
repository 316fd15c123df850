"""The ClaimX REST API client (claimx.md §11).

api = ClaimxApi.from_settings(ctx.settings_for(ClaimxSettings), ctx.settings.ca_bundle)
try:
    export = api.project("5517342")
except ApiError as error:
    ...  # error.category: PERMANENT → dead; TRANSIENT / AUTH → retry (error.retry_after_s)
"""

from vpipe_claimx.api.client import CIRCUIT_NAME, CircuitLimits, ClaimxApi
from vpipe_claimx.api.errors import CIRCUIT_OPEN, EMPTY_RESPONSE, ApiError, Endpoint
from vpipe_core.circuit import CircuitState

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
