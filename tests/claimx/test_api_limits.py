"""The `claimx_api` circuit, the in-flight bound and the rate limit (claimx.md §11.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from vpipe_claimx.api import CIRCUIT_OPEN, ApiError, CircuitLimits, CircuitState, ClaimxApi
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Category
from vpipe_core.retry.circuit import CircuitBreaker, CircuitOpen
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

PROJECT = "5517342"
DIRECT = ProxyConfig()  # no proxy, whatever the environment says
E1_PATH = r"/export/project/5517342$"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def api(fake: FakeClaimxApi, clock: ManualClock) -> Iterator[ClaimxApi]:
    with ClaimxApi(
        fake.url, fake.token, proxy=DIRECT, monotonic=clock, sleep=clock.sleep
    ) as client:
        yield client


def _error(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("vpipe_circuit_state", {"name": "claimx_api"})


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def _open_circuit(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.http(503), times=5)
    for _ in range(5):
        assert _error(lambda: api.project(PROJECT)).category is Category.TRANSIENT


# -- circuit ---------------------------------------------------------------------------------


def test_five_transient_failures_open_the_circuit(
    api: ClaimxApi, fake: FakeClaimxApi, clock: ManualClock
) -> None:
    _open_circuit(api, fake)
    assert api.circuit_state is CircuitState.OPEN
    assert _gauge() == 1
    error = _error(lambda: api.media(PROJECT))
    assert (error.category, error.reason, error.status) == (Category.TRANSIENT, CIRCUIT_OPEN, None)
    assert error.retry_after_s == 60.0
    assert fake.count("/media$") == 0  # refused without a request
    clock.now += 45
    assert _error(lambda: api.project(PROJECT)).retry_after_s == 15.0


def test_answers_that_are_not_transient_keep_it_closed(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.http(404), times=6)
    fake.inject(E1_PATH, Fault.http(401), times=6)
    for _ in range(12):
        assert _error(lambda: api.project(PROJECT)).category is not Category.TRANSIENT
    assert api.circuit_state is CircuitState.CLOSED


def test_a_success_resets_the_failure_count(api: ClaimxApi, fake: FakeClaimxApi) -> None:
    fake.inject(E1_PATH, Fault.dropped(), times=4)
    for _ in range(4):
        _error(lambda: api.project(PROJECT))
    api.project(PROJECT)
    fake.inject(E1_PATH, Fault.http(500), times=4)
    for _ in range(4):
        _error(lambda: api.project(PROJECT))
    assert api.circuit_state is CircuitState.CLOSED


def test_half_open_two_successes_close(
    api: ClaimxApi, fake: FakeClaimxApi, clock: ManualClock
) -> None:
    _open_circuit(api, fake)
    clock.now += 60
    assert api.circuit_state is CircuitState.HALF_OPEN
    assert _gauge() == 2
    api.project(PROJECT)
    assert api.circuit_state is CircuitState.HALF_OPEN
    api.media(PROJECT)
    assert api.circuit_state is CircuitState.CLOSED
    assert _gauge() == 0


def test_half_open_failure_opens_again(
    api: ClaimxApi, fake: FakeClaimxApi, clock: ManualClock
) -> None:
    _open_circuit(api, fake)
    clock.now += 60
    api.project(PROJECT)
    fake.inject(E1_PATH, Fault.http(502))
    _error(lambda: api.project(PROJECT))
    assert api.circuit_state is CircuitState.OPEN
    assert _error(lambda: api.project(PROJECT)).retry_after_s == 60.0


def test_half_open_admits_three_probes_at_once(
    api: ClaimxApi, fake: FakeClaimxApi, clock: ManualClock
) -> None:
    _open_circuit(api, fake)
    clock.now += 60
    gate = threading.Event()
    fake.inject(E1_PATH, Fault.held(gate), times=3)
    with ThreadPoolExecutor(3) as pool:
        probes = [pool.submit(api.project, PROJECT) for _ in range(3)]
        _wait_until(lambda: fake.in_flight == 3)
        assert _error(lambda: api.project(PROJECT)).reason == CIRCUIT_OPEN
        gate.set()
        assert all(probe.result()["companyName"] for probe in probes)
    assert api.circuit_state is CircuitState.CLOSED


def test_circuit_thresholds_are_parameters(fake: FakeClaimxApi, clock: ManualClock) -> None:
    limits = CircuitLimits(failures=2, open_s=5, probes=1, close_after=1)
    with ClaimxApi(fake.url, fake.token, proxy=DIRECT, circuit=limits, monotonic=clock) as client:
        fake.inject(E1_PATH, Fault.http(500), times=2)
        for _ in range(2):
            _error(lambda: client.project(PROJECT))
        assert client.circuit_state is CircuitState.OPEN
        clock.now += 5
        client.project(PROJECT)
        assert client.circuit_state is CircuitState.CLOSED


def test_a_call_from_before_the_opening_does_not_count() -> None:
    now = [0.0]
    breaker = CircuitBreaker("test", failure_threshold=1, open_s=10, clock=lambda: now[0])
    slow = breaker.acquire()
    breaker.record(breaker.acquire(), ok=False)
    assert breaker.state is CircuitState.OPEN
    now[0] = 10
    breaker.record(slow, ok=True)  # started while closed: says nothing about the probes
    assert breaker.state is CircuitState.HALF_OPEN


def test_a_released_probe_frees_its_slot() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        "test",
        failure_threshold=1,
        open_s=1,
        half_open_probes=1,
        close_after=1,
        clock=lambda: now[0],
    )
    breaker.record(breaker.acquire(), ok=False)
    now[0] = 1
    probe = breaker.acquire()
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    breaker.release(probe)
    breaker.record(breaker.acquire(), ok=True)
    assert breaker.state is CircuitState.CLOSED


# -- in-flight bound ---------------------------------------------------------------------------


def test_concurrency_bound_is_honoured(fake: FakeClaimxApi) -> None:
    gate = threading.Event()
    fake.inject(r"/export/project/", Fault.held(gate), times=None)
    with (
        ClaimxApi(fake.url, fake.token, concurrency=3, proxy=DIRECT) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        calls = [pool.submit(client.project, PROJECT) for _ in range(8)]
        _wait_until(lambda: fake.in_flight == 3)
        time.sleep(0.3)  # room for a fourth request, were the bound broken
        assert fake.in_flight == 3
        gate.set()
        assert all(call.result()["companyName"] for call in calls)
    assert fake.max_in_flight == 3
    assert fake.count(E1_PATH) == 8


# -- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_spaces_requests(fake: FakeClaimxApi, clock: ManualClock) -> None:
    with ClaimxApi(
        fake.url,
        fake.token,
        rate_limit_per_s=10,
        proxy=DIRECT,
        monotonic=clock,
        sleep=clock.sleep,
    ) as client:
        for _ in range(5):
            client.project(PROJECT)
    assert clock.slept == pytest.approx([0.1] * 4)
    assert fake.count(E1_PATH) == 5


def test_rate_limit_waits_only_for_the_remaining_interval(
    fake: FakeClaimxApi, clock: ManualClock
) -> None:
    with ClaimxApi(
        fake.url, fake.token, rate_limit_per_s=2, proxy=DIRECT, monotonic=clock, sleep=clock.sleep
    ) as client:
        client.project(PROJECT)
        clock.now += 0.2
        client.project(PROJECT)
        clock.now += 5
        client.project(PROJECT)
    assert clock.slept == pytest.approx([0.3])


def test_no_rate_limit_by_default(api: ClaimxApi, clock: ManualClock) -> None:
    for _ in range(5):
        api.project(PROJECT)
    assert clock.slept == []
