"""Fixtures for the deployment checks: the tools (helm, promtool), the metric names the code
defines, and helpers to pull metric names out of PromQL.

helm and promtool are required, not optional: `make install-system` installs promtool (Debian's
prometheus package) and builds helm into .stack/bin (scripts/install-helm.sh). A missing tool
fails these tests with the command that installs it, so CI can never pass them by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "vigil"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules"
CODE_DIRS = ("services", "streaming", "models")

_METRIC_LITERAL = re.compile(r"""["'](vigil_[a-z0-9_]+)["']""")
_METRIC_IN_QUERY = re.compile(r"\bvigil_[a-z0-9_]+\b")
# Suffixes a prometheus_client metric may be exposed with (counters gain _total, histograms
# _bucket/_sum/_count, everything created after 0.4 has _created).
_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")


def _tool(name: str, installer: str) -> str:
    found = shutil.which(name) or (
        str(ROOT / ".stack" / "bin" / name) if os.access(ROOT / ".stack" / "bin" / name, os.X_OK) else None
    )
    if found is None:
        pytest.fail(
            f"{name} not found on PATH or in .stack/bin: run `{installer}` (make install-system does)"
        )
    return found


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of the helm binary."""
    return _tool("helm", "bash scripts/install-helm.sh")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian package prometheus)."""
    return _tool("promtool", "bash scripts/install-system.sh")


def code_metric_names() -> set[str]:
    """Every series name the code can expose: each ``"vigil_..."`` string literal under
    services/, streaming/ and models/, with the suffixes prometheus_client adds."""
    names: set[str] = set()
    for top in CODE_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            for base in _METRIC_LITERAL.findall(path.read_text(encoding="utf-8")):
                stem = base.removesuffix("_total")
                names.update(stem + suffix for suffix in _SUFFIXES)
                names.add(base)
    return names


@pytest.fixture(scope="session")
def exposed_metrics() -> set[str]:
    """Metric names defined in the code (see :func:`code_metric_names`)."""
    names = code_metric_names()
    assert names, "no vigil_ metric found in the code: has the layout changed?"
    return names


def metric_names_in(expr: str) -> set[str]:
    """The vigil_ metric names a PromQL expression mentions."""
    return set(_METRIC_IN_QUERY.findall(expr))


# Grafana's variables, replaced by values Prometheus accepts (queries are checked as PromQL).
GRAFANA_VARS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${camera}": ".+",
    "$camera": ".+",
}


def expand_grafana_vars(expr: str) -> str:
    """The expression with Grafana's variables replaced (longest names first)."""
    for name in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARS[name])
    return expr
