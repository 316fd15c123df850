"""The one back-off of in-place retries: bounds, doubling, jitter range."""

from __future__ import annotations

import pytest

from vpipe_core.retry.backoff import (
    FIRST_DELAY_S,
    JITTER_RANGE,
    MAX_DELAY_S,
    backoff_s,
    random_jitter,
)


def bare(failures: int) -> float:
    return backoff_s(failures, jitter=lambda: 1.0)


def test_first_failure_waits_the_first_delay() -> None:
    assert bare(1) == FIRST_DELAY_S == 1.0


def test_each_failure_doubles_the_delay_until_the_cap() -> None:
    assert [bare(n) for n in range(1, 9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_the_delay_never_passes_the_cap_even_after_very_many_failures() -> None:
    assert bare(10_000) == MAX_DELAY_S == 60.0


@pytest.mark.parametrize("failures", [0, -3])
def test_no_failure_counts_as_the_first(failures: int) -> None:
    assert bare(failures) == FIRST_DELAY_S


def test_jitter_scales_the_delay() -> None:
    assert backoff_s(3, jitter=lambda: 0.8) == pytest.approx(3.2)
    assert backoff_s(30, jitter=lambda: 1.2) == pytest.approx(72.0)


def test_random_jitter_stays_in_range() -> None:
    low, high = JITTER_RANGE
    draws = [random_jitter() for _ in range(2000)]
    assert all(low <= draw <= high for draw in draws)
    assert len(set(draws)) > 1


def test_default_jitter_keeps_every_delay_within_its_band() -> None:
    low, high = JITTER_RANGE
    for failures in range(1, 12):
        expected = bare(failures)
        assert low * expected <= backoff_s(failures) <= high * expected
