"""The no-progress alert against a real worker's /metrics: a `testdom-echo` stuck in its handler
(a dependency that does not answer) while producers are quiet fires `VpipePartitionNoProgress`
within its window; the same worker idle and caught up does not.

promtool evaluates the rule from series built from two real scrapes: the partition's commit
timestamp as scraped (it did not move between them) and its lag in seconds growing at the rate
the two scrapes showed. Test time 0 is the first scrape."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import orjson
import yaml
from deploy_facts import DEPLOY
from prometheus_client.parser import text_string_to_metric_families

from vpipe_testing.kafka import produce

RULES = DEPLOY / "prometheus" / "vpipe-alerts.yml"
ALERT = "VpipePartitionNoProgress"
LAG = "vpipe_consumer_lag_seconds"
COMMITTED_AT = "vpipe_partition_commit_timestamp_seconds"
WORKER = "testdom-echo"

Samples = dict[tuple[str, str], float]  # (topic, partition) -> value


def scrape(worker) -> tuple[float, dict[str, Samples]]:
    """(when, {metric: samples}) for the two metrics the rule reads."""
    text, now = worker.metrics_text(), time.time()
    found: dict[str, Samples] = {LAG: {}, COMMITTED_AT: {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in found and sample.labels.get("worker") == WORKER:
                key = (sample.labels["topic"], sample.labels["partition"])
                found[sample.name][key] = sample.value
    return now, found


def wait_for(worker, condition, timeout_s: float = 60.0) -> tuple[float, dict[str, Samples]]:
    deadline = time.monotonic() + timeout_s
    while True:
        scraped = scrape(worker)
        if condition(scraped[1]):
            return scraped
        assert time.monotonic() < deadline, f"metrics never matched: {scraped[1]}"
        time.sleep(0.5)


def series(first: tuple[float, dict[str, Samples]], lag_rate: float, instance: str) -> list[dict]:
    """15 minutes of the scraped state, one sample a minute."""
    at, found = first
    out = []
    for (topic, partition), value in found[COMMITTED_AT].items():
        labels = f'instance="{instance}", worker="{WORKER}", topic="{topic}", '
        labels += f'partition="{partition}"'
        out.append({"series": f"{COMMITTED_AT}{{{labels}}}", "values": f"{value - at}+0x15"})
        lag = found[LAG].get((topic, partition))
        if lag is not None:
            out.append({"series": f"{LAG}{{{labels}}}", "values": f"{lag}+{60 * lag_rate}x15"})
    return out


def expected_alerts(found: dict[str, Samples], instance: str) -> list[dict]:
    rule = next(
        rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if rule.get("alert") == ALERT
    )
    alerts = []
    for (topic, partition), lag in found[LAG].items():
        if lag > 0:
            labels = {"instance": instance, "worker": WORKER, "topic": topic}
            labels["partition"] = partition
            annotations = {k: render(v, labels) for k, v in rule["annotations"].items()}
            alerts.append(
                {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}
            )
    return alerts


def render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m[1]], template)


def promtool_test(promtool: Path, tmp_path: Path, input_series: list, checks: list) -> None:
    case = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": checks}],
    }
    path = tmp_path / "scraped.test.yml"
    path.write_text(yaml.safe_dump(case, sort_keys=False))
    result = subprocess.run(
        [str(promtool), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{path.read_text()}"


def test_a_stuck_consumer_fires_no_progress_and_an_idle_one_does_not(
    testdom, start_worker, promtool, tmp_path
):
    idle = start_worker(WORKER, testdom)
    instance = f"127.0.0.1:{idle.port}"
    produce(testdom, "testdom.in", [orjson.dumps({"id": f"r{n}"}) for n in range(5)], key=b"k")
    caught_up = wait_for(
        idle, lambda found: found[LAG] and set(found[LAG].values()) == {0.0}, timeout_s=60
    )
    time.sleep(2)
    assert scrape(idle)[1][COMMITTED_AT] == caught_up[1][COMMITTED_AT], "an idle commit moved"
    promtool_test(
        promtool,
        tmp_path,
        series(caught_up, 0.0, instance),
        [{"eval_time": "10m", "alertname": ALERT}],
    )
    idle.stop()

    # The same group, its handler now waiting on a dependency far longer than the window.
    stuck = start_worker(WORKER, testdom, TESTDOM_SLEEP_MS="3600000")
    produce(testdom, "testdom.in", [orjson.dumps({"id": f"s{n}"}) for n in range(3)], key=b"k")
    first = wait_for(stuck, lambda found: any(lag > 0 for lag in found[LAG].values()))
    time.sleep(3)
    second = scrape(stuck)
    assert second[1][COMMITTED_AT] == first[1][COMMITTED_AT], "a stuck consumer committed"
    stuck_key = next(key for key, lag in first[1][LAG].items() if lag > 0)
    lag_rate = (second[1][LAG][stuck_key] - first[1][LAG][stuck_key]) / (second[0] - first[0])
    assert 0.8 < lag_rate < 1.2, f"lag in seconds should grow with the clock: {lag_rate}"
    fires = expected_alerts(first[1], instance)
    promtool_test(
        promtool,
        tmp_path,
        series(first, lag_rate, instance),
        [
            {"eval_time": "2m", "alertname": ALERT},
            {"eval_time": "7m", "alertname": ALERT, "exp_alerts": fires},
        ],
    )
    stuck.stop(timeout_s=1)  # its handler sleeps for an hour: no drain to wait for
