"""The metric names the alert rules and dashboards use, and the sample names a scrape offers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from deploy_facts import DEPLOY
from prometheus_client.parser import text_string_to_metric_families

RULES = sorted((DEPLOY / "prometheus").glob("*alerts*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
METRIC_NAME = re.compile(r"\bvpipe_[a-z0-9_]+\b")
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def rule_expressions(path: Path) -> Iterator[str]:
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def dashboard_expressions(path: Path) -> Iterator[str]:
    board = json.loads(path.read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield query.get("query", "")
        yield variable.get("definition", "")


def referenced_names() -> dict[str, set[str]]:
    """Metric name → the files using it."""
    used: dict[str, set[str]] = {}
    for path, expressions in [(p, rule_expressions(p)) for p in RULES] + [
        (p, dashboard_expressions(p)) for p in DASHBOARDS
    ]:
        for expression in expressions:
            for name in METRIC_NAME.findall(expression):
                used.setdefault(name, set()).add(path.name)
    return used


def exposed_sample_names(metrics_text: str) -> set[str]:
    """Every sample name a PromQL expression may use for the families in a /metrics text,
    including families that have no samples yet (no label values seen)."""
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def json_panels(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["panels"])
