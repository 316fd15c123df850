"""Status classification of the ClaimX API (claimx.md §11.2), row by row, over real HTTP."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Category
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

PROJECT = "5517342"
DIRECT = ProxyConfig()  # no proxy, whatever the environment says
E1_PATH = r"/export/project/5517342$"
NOW = datetime(2026, 10, 21, 7, 27, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def api(fake: FakeClaimxApi) -> Iterator[ClaimxApi]:
    with ClaimxApi(fake.url, fake.token, timeout_s=5, proxy=DIRECT, now=lambda: NOW) as client:
        yield client


def _error(api: ClaimxApi) -> ApiError:
    with pytest.raises(ApiError) as caught:
        api.project(PROJECT)
    return caught.value


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("status", [400, 403, 404, 405, 410, 422, 418, 451])
def test_4xx_is_permanent(api: ClaimxApi, fake: FakeClaimxApi, status: int) -> None:
    fake.inject(E1_PATH, Fault.http(status))
    error = _error(api)
    assert (error.category, error.status, error.endpoint) == (Category.PERMANENT, status, "E1")
    assert error.reason == f"HTTP {status}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_5xx_are_transient(api: ClaimxApi, fake: FakeClaimxApi, status: int) -> None:
    fake.inject(E1_PATH, Fault.http(status))
    error = _error(api)
    assert (error.category, error.status) == (Category.TRANSIENT, status)
    assert error.retry_after_s is None


def test_429_retry_after_seconds(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.http(429, retry_after=7))
    error = _error(api)
    assert (error.category, error.retry_after_s) == (Category.TRANSIENT, 7.0)


def test_retry_after_http_date(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.http(503, retry_after="Wed, 21 Oct 2026 07:28:30 GMT"))
    assert _error(api).retry_after_s == 90.0


def test_401_is_auth_and_counted(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    before = _sample("vpipe_claimx_api_auth_failures_total", endpoint="E1")
    fake.inject(E1_PATH, Fault.http(401))
    error = _error(api)
    assert (error.category, error.status) == (Category.AUTH, 401)
    assert _sample("vpipe_claimx_api_auth_failures_total", endpoint="E1") == before + 1


def test_wrong_token_is_auth(fake: FakeClaimxApi) -> None:
    with ClaimxApi(fake.url, "d3Jvbmc6dG9rZW4=", proxy=DIRECT) as client:
        assert _error(client).category is Category.AUTH


def test_redirect_is_not_followed_and_transient(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    redirect = Fault(status=302, headers={"Location": f"{fake.url}/export/project/5517342"})
    fake.inject(E1_PATH, redirect)
    assert _error(api).category is Category.TRANSIENT
    assert fake.count(E1_PATH) == 1


def test_non_json_200_is_transient(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.answer(b"<html>maintenance</html>", content_type="text/html"))
    error = _error(api)
    assert (error.category, error.reason, error.status) == (
        Category.TRANSIENT,
        "non-JSON body",
        200,
    )


def test_truncated_body_is_transient(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.truncated(20))
    error = _error(api)
    assert (error.category, error.reason) == (Category.TRANSIENT, "connection error")


def test_dropped_connection_is_transient(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.dropped())
    error = _error(api)
    assert (error.category, error.reason) == (Category.TRANSIENT, "connection error")


def test_slow_answer_is_a_transient_timeout(fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.slow(1.5))
    with ClaimxApi(fake.url, fake.token, timeout_s=0.3, proxy=DIRECT) as client:
        error = _error(client)
    assert (error.category, error.reason) == (Category.TRANSIENT, "timeout")


def test_total_time_covers_the_body(fake: FakeClaimxApi) -> None:
    """The body must arrive within the request's total time, not only each read."""
    ticks = iter(range(0, 10_000, 40))  # every look at the clock is 40 s later
    with ClaimxApi(
        fake.url, fake.token, timeout_s=30, proxy=DIRECT, monotonic=lambda: float(next(ticks))
    ) as client:
        error = _error(client)
    assert (error.category, error.reason) == (Category.TRANSIENT, "timeout")


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ClaimxApi(f"http://127.0.0.1:{port}/api", "dG9rZW4=", proxy=DIRECT) as client:
        error = _error(client)
    assert (error.category, error.reason, error.status) == (
        Category.TRANSIENT,
        "connection error",
        None,
    )


def test_unknown_host_is_transient() -> None:
    with ClaimxApi("http://claimx.invalid/api", "dG9rZW4=", proxy=DIRECT) as client:
        assert _error(client).category is Category.TRANSIENT


def test_error_body_logged_redacted_and_bounded(
    api: ClaimxApi, fake: FakeClaimxApi, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"link": "https://h/x?sign=TOPSECRET&a=1", "detail": "' + b"x" * 2000 + b'"}'
    fake.inject(E1_PATH, Fault.http(400, body=body))
    with caplog.at_level(logging.WARNING, "vpipe.claimx.api"):
        error = _error(api)
    (record,) = [r for r in caplog.records if "answered HTTP 400" in r.getMessage()]
    logged_body = record.getMessage().split(": ", 1)[1]
    assert len(logged_body) <= 500
    assert logged_body.endswith("...")
    assert "TOPSECRET" not in caplog.text
    assert "[REDACTED]" in logged_body
    assert "TOPSECRET" not in str(error)


def test_token_never_appears_in_errors(fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.http(400, body=f'{{"echo": "{fake.token}"}}'.encode()))
    with ClaimxApi(fake.url, fake.token, proxy=DIRECT) as client:
        error = _error(client)
    assert fake.token not in str(error)


def test_metrics_count_requests_by_status_class(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    ok = _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="2xx")
    server = _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="5xx")
    broken = _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="error")
    timed = _sample("vpipe_claimx_api_seconds_count", endpoint="E1")
    api.project(PROJECT)
    fake.inject(E1_PATH, Fault.http(500))
    _error(api)
    fake.inject(E1_PATH, Fault.dropped())
    _error(api)
    assert _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="2xx") == ok + 1
    assert (
        _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="5xx") == server + 1
    )
    assert (
        _sample("vpipe_claimx_api_requests_total", endpoint="E1", status_class="error")
        == broken + 1
    )
    assert _sample("vpipe_claimx_api_seconds_count", endpoint="E1") == timed + 3
