"""deploy/prometheus and deploy/grafana: well-formed rules and dashboards over vpipe_ metrics.
(Whether the names exist on a live worker is tests/deploy/test_metrics_scrape.py.)"""

from __future__ import annotations

import json

import yaml
from deploy_facts import DEPLOY
from monitoring import DASHBOARDS, RULES, exposed_sample_names, json_panels, referenced_names

EXPECTED_DASHBOARDS = {
    "vpipe-overview.json",
    "vpipe-domain.json",
    "vpipe-dlq-retries.json",
    "vpipe-consumer-lag.json",
}
RECOMMENDED_ALERTS = {
    "VpipeConsumerLagHigh",
    "VpipeDlqGrowing",
    "VpipeNoPartitions",
    "VpipeTargetDown",
    "VpipeLoopStalled",
    "VpipeInplaceRetryLong",
    "VpipeRetryHeadOverdue",
    "VpipeWriterRetrying",
    "VpipeDownloadFailureRatio",
    "VpipeClaimxApiUnauthorized",
}


def test_the_four_dashboards_exist_with_unique_uids():
    assert {path.name for path in DASHBOARDS} == EXPECTED_DASHBOARDS
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_every_panel_queries_prometheus_and_fits_the_grid():
    for path in DASHBOARDS:
        for panel in json_panels(path):
            assert panel["targets"], f"{path.name}: {panel['title']} has no query"
            assert panel["datasource"]["uid"] == "${datasource}"
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, (path.name, panel["title"])


def test_rules_have_severity_summary_and_the_recommended_alerts():
    alerts = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                alerts.add(rule["alert"])
                assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]
    assert alerts >= RECOMMENDED_ALERTS


def test_lag_alert_leaves_retry_tiers_out():
    rules = [yaml.safe_load(path.read_text()) for path in RULES]
    lag = [
        rule["expr"]
        for doc in rules
        for group in doc["groups"]
        for rule in group["rules"]
        if rule["alert"] == "VpipeConsumerLagHigh"
    ]
    assert lag and 'topic!~".+[.]retry[.].+"' in lag[0]


def test_only_vpipe_names_and_every_dashboard_uses_some():
    used = referenced_names()
    assert used, "no vpipe_ metric referenced at all"
    for path in DASHBOARDS:
        assert any(path.name in files for files in used.values()), path.name


def test_prometheus_example_loads_the_rules():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["vpipe-alerts.yml"]
    assert config["scrape_configs"][0]["job_name"] == "vpipe"  # the alerts' up{job="vpipe"}


def test_sample_names_of_a_scrape_include_suffixes_and_empty_families():
    text = (
        "# HELP vpipe_x_total Things\n# TYPE vpipe_x_total counter\n"
        "# HELP vpipe_t_seconds Time\n# TYPE vpipe_t_seconds histogram\n"
        'vpipe_t_seconds_bucket{le="+Inf"} 1.0\n'
        "vpipe_t_seconds_count 1.0\nvpipe_t_seconds_sum 1.0\n"
        "# HELP vpipe_g A gauge\n# TYPE vpipe_g gauge\n"
    )
    names = exposed_sample_names(text)
    assert {"vpipe_x_total", "vpipe_t_seconds_bucket", "vpipe_t_seconds_count", "vpipe_g"} <= names
