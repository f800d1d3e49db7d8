"""The Helm chart: `helm lint --strict`, `helm template` of the CI profiles validated offline
against Kubernetes' schemas (kubernetes-validate, strict), custom resources (KEDA, Prometheus
Operator) checked structurally, and the rendered config loaded by the real config schema."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streaming.config import VigilConfig, load_config
from tests.deploy.conftest import CHART, ROOT

PROFILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSIONS = ("1.29.0", "1.33.0")
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


def render(helm: str, *args: str, kube_version: str = "1.33.0") -> subprocess.CompletedProcess[str]:
    """`helm template vigil k8s/vigil ARGS` (namespace vigil)."""
    return subprocess.run(
        [
            helm,
            "template",
            "vigil",
            str(CHART),
            "--namespace",
            "vigil",
            "--kube-version",
            kube_version,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def manifests(helm: str, *args: str, kube_version: str = "1.33.0") -> list[dict[str, Any]]:
    result = render(helm, *args, kube_version=kube_version)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def values(profile: Path) -> dict[str, Any]:
    return yaml.safe_load(profile.read_text()) or {}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{kind} *{name_suffix}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    first: dict[str, Any] = containers[0]
    return first


def rendered_config(docs: list[dict[str, Any]], workload: dict[str, Any]) -> VigilConfig:
    """The config a pod would load: the ConfigMap's YAML plus its literal VIGIL_ env (secret
    references get placeholder values; camera URL files are not read here)."""
    text = one(docs, "ConfigMap", "-config")["data"]["vigil.yaml"]
    env = {}
    for var in container(workload)["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var["valueFrom"]:
            env[var["name"]] = "placeholder-secret"
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = "0"  # the pod index label
    env.pop("VIGIL_CONFIG")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vigil.yaml"
        path.write_text(text)
        return load_config(path, environ=env)


@pytest.fixture(scope="module", params=PROFILES, ids=lambda p: p.stem)
def profile(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def test_ci_profiles_exist() -> None:
    assert {p.name for p in PROFILES} >= {"cpu-values.yaml", "gpu-keda-values.yaml", "external-values.yaml"}


def test_lint_strict(helm: str) -> None:
    for args in ([], *(["-f", str(p)] for p in PROFILES)):
        result = subprocess.run([helm, "lint", "--strict", str(CHART), *args], capture_output=True, text=True)
        assert result.returncode == 0, f"helm lint --strict {args}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(helm: str, profile: Path, kube_version: str) -> None:
    docs = manifests(helm, "-f", str(profile), kube_version=kube_version)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "StatefulSet", "Deployment", "Service", "NetworkPolicy"} <= kinds
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue  # no schema ships for them: checked below
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert (
        kinds
        - CRD_KINDS
        - {
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Service",
            "StatefulSet",
            "Deployment",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
        }
        == set()
    )


def test_security_resources_and_probes(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    assert {w["metadata"]["name"].rsplit("-", 1)[1] for w in workloads} == {"ingest", "fusion", "alert"}
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        c = container(w)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["automountServiceAccountToken"] is False
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][part]), f"{w['metadata']['name']} {part}"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/tmp", "/etc/vigil/config"}
        port = next(p["containerPort"] for p in c["ports"] if p["name"] == "http")
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["VIGIL_HTTP__PORT"] == str(port)
        assert c["args"] == [w["metadata"]["name"].rsplit("-", 1)[1]]
    fusion = container(one(docs, "Deployment", "-fusion"))
    startup = fusion["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "startup must cover model warm-up"


def test_rendered_config_is_valid_and_secret_free(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    v = values(profile)
    text = one(docs, "ConfigMap", "-config")["data"]["vigil.yaml"]
    for camera in (v.get("cameras") or {}).values():
        if camera and camera.get("url"):
            assert camera["url"] not in text, "a camera URL leaked into the ConfigMap"
    for kind in WORKLOAD_KINDS:
        for w in by_kind(docs, kind):
            config = rendered_config(docs, w)
            assert config.kafka.bootstrap_servers == v.get("kafka", {}).get("bootstrapServers", "kafka:9092")
            assert set(config.cameras) == set(v.get("cameras") or {})
            for camera_id, camera in config.cameras.items():
                assert camera.url is None and camera.url_file == Path(f"/etc/vigil/cameras/{camera_id}")


def test_model_file_is_mounted_where_the_config_points(helm: str, profile: Path) -> None:
    """Fusion loads the model, ingest reads its contract: both must see the configured file."""
    docs = manifests(helm, "-f", str(profile))
    for w in docs:
        if w["kind"] not in WORKLOAD_KINDS or w["metadata"]["name"].endswith("-alert"):
            continue
        model = rendered_config(docs, w).fusion.model_path
        if model is not None:
            mounts = [Path(m["mountPath"]) for m in container(w)["volumeMounts"]]
            assert any(m in model.parents for m in mounts), f"{w['metadata']['name']} cannot read {model}"


def test_cameras_secret_and_sharding(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    v = values(profile)
    ingest = one(docs, "StatefulSet", "-ingest")
    c = container(ingest)
    env = {e["name"]: e for e in c["env"]}
    assert env["VIGIL_INGEST__SHARD_COUNT"]["value"] == str(ingest["spec"]["replicas"])
    field = env["VIGIL_INGEST__SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.labels['apps.kubernetes.io/pod-index']"
    volume = next(vol for vol in ingest["spec"]["template"]["spec"]["volumes"] if vol["name"] == "cameras")
    mount = next(m for m in c["volumeMounts"] if m["name"] == "cameras")
    assert mount["mountPath"] == "/etc/vigil/cameras"
    if v.get("camerasExistingSecret"):
        assert volume["secret"]["secretName"] == v["camerasExistingSecret"]
        assert not by_kind(docs, "Secret")
    else:
        secret = one(docs, "Secret", "-cameras")
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        assert set(secret["stringData"]) == set(v["cameras"])
        for camera_id, camera in v["cameras"].items():
            assert secret["stringData"][camera_id] == camera["url"]


def test_fusion_scaling(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    v = values(profile)
    fusion = one(docs, "Deployment", "-fusion")
    config = rendered_config(docs, fusion)
    partitions = config.kafka.partitions
    keda = v.get("fusion", {}).get("keda", {}).get("enabled", False)
    hpa = v.get("fusion", {}).get("autoscaling", {}).get("enabled", False)
    if keda:
        so = one(docs, "ScaledObject")
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        assert so["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": fusion["metadata"]["name"],
        }
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == config.fusion.group_id  # KEDA watches the group fusion joins
        assert meta["topic"] == config.topics.video
        assert meta["bootstrapServers"] == config.kafka.bootstrap_servers
        assert meta["offsetResetPolicy"] == "earliest"
        assert int(meta["lagThreshold"]) > 0 and int(meta["activationLagThreshold"]) >= 0
        assert all(isinstance(x, str) for x in meta.values()), "KEDA trigger metadata values are strings"
        assert not by_kind(docs, "HorizontalPodAutoscaler")
        assert "replicas" not in fusion["spec"]  # the ScaledObject owns the replica count
        if config.kafka.sasl_mechanism or config.kafka.ssl_cafile:
            auth = one(docs, "TriggerAuthentication")
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
            params = {p["parameter"] for p in auth["spec"].get("secretTargetRef", [])}
            assert ("password" in params) == bool(config.kafka.sasl_mechanism)
    elif hpa:
        h = one(docs, "HorizontalPodAutoscaler")
        assert h["spec"]["scaleTargetRef"]["name"] == fusion["metadata"]["name"]
        assert h["spec"]["maxReplicas"] <= partitions
        assert not by_kind(docs, "ScaledObject")
    else:
        assert fusion["spec"]["replicas"] <= partitions
    gpu = v.get("fusion", {}).get("gpu", {}).get("enabled", False)
    pod = fusion["spec"]["template"]["spec"]
    limits = container(fusion)["resources"]["limits"]
    tolerations = pod.get("tolerations", [])
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert ("nvidia.com/gpu" in limits) == gpu
    assert (gpu_toleration in tolerations) == gpu
    assert "nvidia.com/gpu" not in container(fusion)["resources"]["requests"] or gpu


def test_monitoring_resources(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    metrics = values(profile).get("metrics", {})
    if metrics.get("serviceMonitor", {}).get("enabled"):
        sm = one(docs, "ServiceMonitor")
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        for key, value in metrics["serviceMonitor"].get("labels", {}).items():
            assert sm["metadata"]["labels"][key] == value  # kube-prometheus-stack's release label
        selector = sm["spec"]["selector"]["matchLabels"]
        services = [
            s for s in by_kind(docs, "Service") if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert {s["metadata"]["name"].rsplit("-", 1)[1] for s in services} == {"ingest", "fusion", "alert"}
        for s in services:
            assert any(p["name"] == sm["spec"]["endpoints"][0]["port"] for p in s["spec"]["ports"])
        assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    else:
        assert not by_kind(docs, "ServiceMonitor")
    if metrics.get("prometheusRule", {}).get("enabled"):
        rule = one(docs, "PrometheusRule")
        for key, value in metrics["prometheusRule"].get("labels", {}).items():
            assert rule["metadata"]["labels"][key] == value
        source = yaml.safe_load((ROOT / "deploy/prometheus/rules/vigil-alerts.yaml").read_text())
        assert rule["spec"]["groups"] == source["groups"]
    else:
        assert not by_kind(docs, "PrometheusRule")
    dashboards = [d for d in by_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]]
    if metrics.get("grafanaDashboards", {}).get("enabled"):
        shipped = {
            p.name: json.loads(p.read_text()) for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")
        }
        got = {k: json.loads(v) for d in dashboards for k, v in d["data"].items()}
        assert got == shipped
    else:
        assert not dashboards


def test_network_policies(helm: str, profile: Path) -> None:
    docs = manifests(helm, "-f", str(profile))
    policies = by_kind(docs, "NetworkPolicy")
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    for w in workloads:
        labels = w["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert covering, f"{w['metadata']['name']} has no NetworkPolicy"
        for p in covering:
            for rule in p["spec"]["ingress"]:
                assert [port["port"] for port in rule["ports"]] == ["http"]
            if "Egress" in p["spec"]["policyTypes"]:
                assert any(
                    {"port": 53, "protocol": "UDP"} in r.get("ports", []) for r in p["spec"]["egress"]
                ), "egress without DNS"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["--set", "fusion.keda.enabled=true", "--set", "fusion.keda.maxReplicas=7"],
            "exceeds kafka.partitions",
        ),
        (
            ["--set", "fusion.autoscaling.enabled=true", "--set", "fusion.autoscaling.maxReplicas=9"],
            "exceeds kafka.partitions",
        ),
        (["--set", "fusion.replicas=12", "--set", "kafka.partitions=6"], "exceeds kafka.partitions"),
        (["--set", "cameras.gate-3.audio=false"], "set cameras.gate-3.url"),
        (["--set-string", "cameras.bad id.url=rtsp://x"], "camera id"),
    ],
)
def test_invalid_values_fail_rendering(helm: str, overrides: list[str], message: str) -> None:
    result = render(helm, *overrides)
    assert result.returncode != 0, f"rendered despite {overrides}"
    assert message in result.stderr


def test_more_partitions_allow_more_fusion_replicas(helm: str) -> None:
    docs = manifests(
        helm,
        "--set",
        "fusion.keda.enabled=true",
        "--set",
        "fusion.keda.maxReplicas=12",
        "--set",
        "kafka.partitions=12",
    )
    assert one(docs, "ScaledObject")["spec"]["maxReplicaCount"] == 12


def test_chart_readme_documents_every_top_level_value() -> None:
    readme = (CHART / "README.md").read_text()
    top = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [key for key in top if f"`{key}" not in readme]
    assert not missing, f"k8s/vigil/README.md does not document: {missing}"
