"""Grafana dashboards: valid JSON, provisioning-safe datasource references, metric names the
code defines, and PromQL that Prometheus parses (checked by promtool as recording rules)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, DASHBOARDS, expand_grafana_vars, metric_names_in

DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
DS_REF = {"type": "prometheus", "uid": "${datasource}"}


def load(path: Path) -> dict[str, Any]:
    """A dashboard as a dict."""
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including those nested in collapsed rows."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target."""
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]


def test_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARD_FILES} >= {"vigil-overview.json", "vigil-camera.json"}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_datasource_is_a_template_variable(path: Path) -> None:
    text = path.read_text()
    assert "${DS_" not in text, "provisioned dashboards cannot use ${DS_...} (import-only)"
    dashboard = load(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "__inputs" not in dashboard
    for panel in panels(dashboard):
        assert panel.get("datasource") == DS_REF, f"panel {panel['title']!r}"
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DS_REF, f"panel {panel['title']!r} target {target['refId']}"
            assert target["expr"].strip()


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_unique_ids_and_layout(path: Path) -> None:
    dashboard = load(path)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_queries_use_metrics_defined_in_code(path: Path, exposed_metrics: set[str]) -> None:
    unknown = {
        (title, name)
        for title, expr in queries(load(path))
        for name in metric_names_in(expr)
        if name not in exposed_metrics
    }
    assert not unknown, f"queries use metrics no service defines: {sorted(unknown)}"
    for title, expr in queries(load(path)):
        assert metric_names_in(expr), f"panel {title!r} queries no vigil_ metric"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_queries_parse(path: Path, promtool: str, tmp_path: Path) -> None:
    """promtool parses every expression (as a recording rule) after Grafana's variables are
    replaced; a PromQL syntax error fails here before any Prometheus runs."""
    rules = [
        {"record": f"vigil:panel_{i}", "expr": expand_grafana_vars(expr)}
        for i, (_, expr) in enumerate(queries(load(path)))
    ]
    rule_file = tmp_path / "panels.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_overview_covers_the_pipeline() -> None:
    exprs = " ".join(expr for _, expr in queries(load(DASHBOARDS / "vigil-overview.json")))
    for metric in (
        "vigil_camera_up",  # cameras up
        "vigil_ingest_frames_decoded_total",  # fps
        "vigil_ingest_dropped_total",  # drops
        "vigil_fusion_consumer_lag_records",  # lag
        "vigil_fusion_windows_scored_total",  # windows/s
        "vigil_fusion_inference_seconds_bucket",  # inference latency
        "vigil_alerts_total",  # alerts by class
        "vigil_alert_capture_to_alert_seconds_bucket",  # capture-to-alert latency
    ):
        assert metric in exprs, metric
    assert "sum by (class)" in exprs


def test_camera_dashboard_drills_down_by_camera() -> None:
    dashboard = load(DASHBOARDS / "vigil-camera.json")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    camera = variables["camera"]
    assert camera["type"] == "query" and camera["datasource"] == DS_REF
    assert "label_values(vigil_camera_up, camera)" in json.dumps(camera["query"])
    for title, expr in queries(dashboard):
        assert 'camera=~"$camera"' in expr, f"panel {title!r} is not filtered by camera"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_chart_ships_the_same_dashboard(path: Path) -> None:
    shipped = CHART / "files" / "dashboards" / path.name
    assert shipped.exists() and shipped.read_text() == path.read_text(), f"cp {path} {shipped}"


def test_compose_provisioning_points_at_the_dashboards() -> None:
    root = DASHBOARDS.parents[2]
    provider = yaml.safe_load((root / "deploy/grafana/provisioning/dashboards/vigil.yaml").read_text())
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts
    datasources = yaml.safe_load(
        (root / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert datasources["datasources"][0]["type"] == "prometheus"
