"""Prometheus alerting rules: promtool checks them and runs their unit tests; every metric they
use is one the services define; the Helm chart ships the same rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, RULES, metric_names_in

RULE_FILE = RULES / "vigil-alerts.yaml"
REQUIRED_ALERTS = {
    "VigilCameraDown",
    "VigilStreamStalled",
    "VigilConsumerLagGrowing",
    "VigilInferenceLatencyHigh",
    "VigilNoWindowsScored",
    "VigilAlertDeliveryFailing",
}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULE_FILE.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules(promtool: str) -> None:
    result = subprocess.run([promtool, "check", "rules", str(RULE_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", sorted((RULES / "tests").glob("*.yaml")), ids=lambda p: p.name)
def test_promtool_test_rules(promtool: str, test_file: Path) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", test_file.name], cwd=test_file.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_cover_every_alert() -> None:
    tested: set[str] = set()
    for test_file in (RULES / "tests").glob("*.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            tested.update(t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts"))
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts - tested == set(), "alerts without a firing unit test"


def test_required_alerts_exist() -> None:
    alerts = {rule.get("alert") for rule in _rules()}
    assert alerts >= REQUIRED_ALERTS, f"missing: {sorted(REQUIRED_ALERTS - alerts)}"
    for rule in _rules():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_rules_use_metrics_defined_in_code(exposed_metrics: set[str]) -> None:
    unknown = {
        (rule["alert"], name)
        for rule in _rules()
        for name in metric_names_in(rule["expr"])
        if name not in exposed_metrics
    }
    assert not unknown, f"rules use metrics no service defines: {sorted(unknown)}"


def test_chart_ships_the_same_rules() -> None:
    shipped = CHART / "files" / "vigil-alerts.yaml"
    assert shipped.read_text() == RULE_FILE.read_text(), (
        f"{shipped} differs from {RULE_FILE}: cp {RULE_FILE.relative_to(CHART.parents[1])} {shipped.relative_to(CHART.parents[1])}"
    )
