"""Retry tiers, the scheduler, the DLQ envelope and `vpipe dlq` against a real broker."""

from __future__ import annotations

from datetime import timedelta

import orjson

from vpipe_core.values.timestamps import parse_iso_utc
from vpipe_testing.kafka import produce, read_all
from vpipe_testing.workers import run_vpipe as vpipe

ENVELOPE = {
    "vpipe_origin_topic",
    "vpipe_origin_partition",
    "vpipe_origin_offset",
    "vpipe_attempt",
    "vpipe_error_category",
    "vpipe_error",
    "vpipe_worker_id",
    "vpipe_first_failed_at",
}


def headers_of(message) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers() or []}


def test_transient_failure_walks_the_tiers_in_order_then_dlq_then_replay(
    testdom, start_worker, tmp_path
):
    start_worker("testdom-echo", testdom)
    scheduler = start_worker("testdom-retry-scheduler", testdom)
    payload = orjson.dumps({"id": "flaky", "fail_times": 3, "succeed_on_replay": True})
    produce(testdom, "testdom.in", [payload], key=b"trace-1", headers=[("trace_id", b"trace-1")])

    dead = read_all(testdom, "testdom.dlq", expect=1, timeout_s=60)[0]
    scheduler_metrics = scheduler.metrics_text()
    tier1 = read_all(testdom, "testdom.retry.1s", expect=1)[0]
    tier2 = read_all(testdom, "testdom.retry.2s", expect=1)[0]
    redelivered = read_all(testdom, "testdom.in", expect=3)[1:]

    h1, h2, hd = headers_of(tier1), headers_of(tier2), headers_of(dead)
    assert 'vpipe_retry_paused_partitions{domain="testdom",tier="1s"}' in scheduler_metrics
    assert 'vpipe_retry_forwarded_total{domain="testdom",tier="1s"} 1.0' in scheduler_metrics
    assert (h1["vpipe_attempt"], h2["vpipe_attempt"], hd["vpipe_attempt"]) == ("1", "2", "3")
    assert h1["vpipe_target_topic"] == h2["vpipe_target_topic"] == "testdom.in"
    first_failed = parse_iso_utc(h1["vpipe_first_failed_at"])
    assert parse_iso_utc(h1["vpipe_due_at"]) >= first_failed + timedelta(seconds=1)
    for copy, tier_headers in zip(redelivered, (h1, h2), strict=True):
        redelivered_at = parse_iso_utc(headers_of(copy)["vpipe_redelivered_at"])
        assert redelivered_at >= parse_iso_utc(tier_headers["vpipe_due_at"]), "delay not honoured"
        assert copy.value() == payload and copy.key() == b"trace-1"

    assert dead.value() == payload and dead.key() == b"trace-1"
    assert hd.keys() >= ENVELOPE
    assert hd["vpipe_dead_reason"] == "exhausted"
    assert hd["vpipe_error_category"] == "transient"
    assert hd["vpipe_worker_id"] == "testdom-echo-1"
    assert hd["vpipe_first_failed_at"] == h1["vpipe_first_failed_at"]
    assert hd["trace_id"] == "trace-1", "original headers are kept"

    listed = vpipe(tmp_path, testdom, "dlq", "list", "--domain", "testdom", "--idle-seconds", "1")
    assert "exhausted" in listed.stdout and "simulated transient failure 3" in listed.stdout
    dry = vpipe(
        tmp_path, testdom, "dlq", "replay", "-d", "testdom", "--dry-run", "--idle-seconds", "1"
    )
    assert "would replay 0:" in dry.stdout or "would replay" in dry.stdout
    assert len(read_all(testdom, "testdom.in", idle_s=1)) == 3, "dry run sent nothing"

    replayed = vpipe(tmp_path, testdom, "dlq", "replay", "-d", "testdom", "--idle-seconds", "1")
    assert replayed.returncode == 0, replayed.stderr
    out = read_all(testdom, "testdom.out", expect=1, timeout_s=30)
    assert out[0].value() == payload
    assert headers_of(out[0])["echo_attempt"] == "0", "replay starts again at attempt 0"
    replayed_input = read_all(testdom, "testdom.in", expect=4)[3]
    assert headers_of(replayed_input)["vpipe_replay_count"] == "1"
    assert "vpipe_attempt" not in headers_of(replayed_input)


def test_replay_counter_refuses_a_loop(testdom, start_worker, tmp_path):
    start_worker("testdom-echo", testdom)
    produce(testdom, "testdom.in", [orjson.dumps({"id": "hopeless", "dead": True})])
    read_all(testdom, "testdom.dlq", expect=1)

    first = vpipe(
        tmp_path,
        testdom,
        "dlq",
        "replay",
        "-d",
        "testdom",
        "--idle-seconds",
        "1",
        DLQ_MAX_REPLAYS="1",
    )
    assert first.returncode == 0, first.stderr
    deaths = read_all(testdom, "testdom.dlq", expect=2)
    replayed = [m for m in deaths if "vpipe_replay_count" in headers_of(m)]
    assert len(replayed) == 1, "the replayed record died again, carrying its replay count"
    second_death = replayed[0]
    assert headers_of(second_death)["vpipe_replay_count"] == "1"

    ref = f"{second_death.partition()}:{second_death.offset()}"
    again = vpipe(
        tmp_path,
        testdom,
        "dlq",
        "replay",
        "-d",
        "testdom",
        "--ref",
        ref,
        "--idle-seconds",
        "1",
        DLQ_MAX_REPLAYS="1",
    )
    assert again.returncode == 1
    assert f"refused {ref}" in again.stderr and "DLQ_MAX_REPLAYS=1" in again.stderr
    forced = vpipe(
        tmp_path,
        testdom,
        "dlq",
        "replay",
        "-d",
        "testdom",
        "--ref",
        ref,
        "--force",
        "--idle-seconds",
        "1",
        DLQ_MAX_REPLAYS="1",
    )
    assert forced.returncode == 0 and "replayed 1" in forced.stdout


def test_scheduler_dead_letters_invalid_envelopes_and_unknown_targets(testdom, start_worker):
    start_worker("testdom-retry-scheduler", testdom)
    produce(testdom, "testdom.retry.1s", [b"no-headers"])
    produce(
        testdom,
        "testdom.retry.1s",
        [b"bad-target"],
        headers=[("vpipe_target_topic", b"testdom.out"), ("vpipe_due_at", b"2026-01-01T00:00:00Z")],
    )
    dead = {m.value(): headers_of(m) for m in read_all(testdom, "testdom.dlq", expect=2)}
    assert dead[b"no-headers"]["vpipe_dead_reason"] == "invalid_envelope"
    assert dead[b"bad-target"]["vpipe_dead_reason"] == "unknown_target"


def test_purge_hides_handled_records(testdom, start_worker, tmp_path):
    start_worker("testdom-echo", testdom)
    produce(testdom, "testdom.in", [b"not json", b"also not json"])
    read_all(testdom, "testdom.dlq", expect=2)
    dry = vpipe(
        tmp_path, testdom, "dlq", "purge", "-d", "testdom", "--dry-run", "--idle-seconds", "1"
    )
    assert "would purge 2" in dry.stdout
    purged = vpipe(tmp_path, testdom, "dlq", "purge", "-d", "testdom", "--idle-seconds", "1")
    assert "purged 2" in purged.stdout, purged.stderr
    listed = vpipe(tmp_path, testdom, "dlq", "list", "-d", "testdom", "--idle-seconds", "1")
    assert "0 record(s)" in listed.stderr
