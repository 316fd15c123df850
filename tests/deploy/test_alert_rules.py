"""The alert rules tested like code: `promtool check rules` and `promtool test rules` on
deploy/prometheus/tests/*.test.yml, and every rule has a case where it fires and one where it
stays silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from deploy_facts import DEPLOY

RULES = DEPLOY / "prometheus" / "vpipe-alerts.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.test.yml"))


def promtool_run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False
    )


def alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def checked_cases() -> tuple[set[str], set[str]]:
    """The alerts some test expects to fire, and those some test expects to stay silent."""
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    return firing, silent


def test_every_alert_rule_has_a_firing_and_a_silent_case() -> None:
    firing, silent = checked_cases()
    names = alert_names()
    assert not names - firing, f"rules no test expects to fire: {sorted(names - firing)}"
    assert not names - silent, f"rules no test expects to stay silent: {sorted(names - silent)}"
    assert not (firing | silent) - names, "tests of rules that do not exist"


def test_promtool_checks_and_tests_the_rules(promtool: Path) -> None:
    checked = promtool_run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool_run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
