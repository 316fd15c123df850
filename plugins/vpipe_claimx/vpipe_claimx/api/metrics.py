"""ClaimX API metrics (runtime.md §10), in the shared registry `/metrics` serves."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from vpipe_core.ops.metrics import REGISTRY

requests_total = Counter(
    "vpipe_claimx_api_requests_total",
    "ClaimX API calls by endpoint and status class (2xx..5xx, error, circuit_open)",
    ["endpoint", "status_class"],
    registry=REGISTRY,
)
request_seconds = Histogram(
    "vpipe_claimx_api_seconds",
    "ClaimX API request time, body included",
    ["endpoint"],
    registry=REGISTRY,
)
auth_failures_total = Counter(
    "vpipe_claimx_api_auth_failures_total",
    "ClaimX API answers 401: the token is wrong or expired (alert on any)",
    ["endpoint"],
    registry=REGISTRY,
)


def status_class(status: int) -> str:
    return f"{status // 100}xx"
