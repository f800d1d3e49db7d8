"""The Helm chart installed into a real kube-apiserver (with etcd; no kubelet, no controllers).

scripts/kube-apiserver.sh builds both from the Go module proxy (deploy/kube-apiserver pins the
release) and starts them on loopback. The CRDs the chart uses come from their projects' Go
modules. Each CI profile is installed into its own namespace that enforces, warns and audits Pod
Security `restricted`; what the API server itself checks (schemas, defaults, admission, RBAC,
immutable fields on upgrade) must accept every object without a single warning.

Go is required (it builds the binaries): without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, ROOT

SCRIPT = ROOT / "scripts" / "kube-apiserver.sh"
PROFILES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "vigil"
# The first build compiles kube-apiserver and etcd (minutes on two cores); later runs reuse it.
BUILD_TIMEOUT_S = 40 * 60
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
PSA_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    warnings: list[str]


@dataclass
class Cluster:
    """A running kube-apiserver: REST access as an admin (system:masters) and a kubeconfig."""

    dir: Path
    server: str
    token: str
    ssl_context: ssl.SSLContext

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> ApiResponse:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context, timeout=30) as resp:
                return ApiResponse(resp.status, json.load(resp), resp.headers.get_all("Warning") or [])
        except urllib.error.HTTPError as exc:
            return ApiResponse(
                exc.code, json.loads(exc.read() or b"{}"), exc.headers.get_all("Warning") or []
            )

    def create(self, path: str, body: dict[str, Any]) -> ApiResponse:
        resp = self.request("POST", path, body)
        assert resp.status == 201, f"POST {path}: {resp.status} {resp.body.get('message')}"
        assert resp.warnings == [], f"POST {path}: warnings {resp.warnings}"
        return resp

    def helm(self, helm: str, *args: str, user: str = "deployer") -> subprocess.CompletedProcess[str]:
        """helm ARGS as USER: "deployer" has only what a RoleBinding grants, "admin" everything."""
        home = self.dir / "helm-home"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        cmd = [helm, *args, "--kube-context", user]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def _apply_crds(cluster: Cluster) -> None:
    result = _script("crds", timeout=600)
    assert result.returncode == 0, f"kube-apiserver.sh crds: {result.stderr}"
    names = []
    for path in result.stdout.split():
        crd = yaml.safe_load(Path(path).read_text())
        cluster.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        names.append(crd["metadata"]["name"])
    deadline = time.monotonic() + 60
    for name in names:
        while True:
            crd = cluster.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            ).body
            conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            if conditions.get("Established") == "True":
                break
            assert time.monotonic() < deadline, f"CRD {name} not established: {conditions}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """etcd + kube-apiserver in a temporary directory, with the chart's CRDs applied; stopped and
    removed afterwards, also when a test or the start-up fails."""
    tmp = Path(tempfile.mkdtemp(prefix="vigil-kube-"))
    try:
        started = time.monotonic()
        result = _script("up", str(tmp), timeout=BUILD_TIMEOUT_S)
        if result.returncode != 0:
            pytest.fail(f"kube-apiserver.sh up failed (rc {result.returncode}):\n{result.stderr[-4000:]}")
        # The build's timing (shown with pytest -s): "built in N s" or "already built".
        built = [line for line in result.stderr.splitlines() if "built" in line]
        print(*built, f"-> up in {time.monotonic() - started:.1f} s")
        ctx = ssl.create_default_context(cafile=str(tmp / "serving.crt"))
        c = Cluster(tmp, (tmp / "server").read_text().strip(), (tmp / "token").read_text().strip(), ctx)
        _apply_crds(c)
        yield c
    finally:
        _script("down", str(tmp), timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def restricted_namespace(cluster: Cluster, name: str) -> str:
    cluster.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": PSA_LABELS}},
    )
    return name


# What installing the chart needs, and no more: namespaced objects only (helm keeps releases in
# Secrets). The chart must install with this Role alone, as a team without cluster rights would.
DEPLOYER_RULES = [
    {"apiGroups": [""], "resources": ["configmaps", "secrets", "services", "serviceaccounts"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"]},
    {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors", "prometheusrules"]},
    {"apiGroups": ["keda.sh"], "resources": ["scaledobjects", "triggerauthentications"]},
]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def grant_deployer(cluster: Cluster, ns: str) -> None:
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    cluster.create(
        f"{rbac}/roles",
        {
            "metadata": {"name": "vigil-deployer"},
            "rules": [{**rule, "verbs": VERBS} for rule in DEPLOYER_RULES],
        },
    )
    cluster.create(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "vigil-deployer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vigil-deployer"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "deployer"}],
        },
    )


def resource_paths(cluster: Cluster) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """(apiVersion, kind) -> (group-version path, resource, namespaced) from discovery."""
    prefixes = ["/api/v1"]
    for group in cluster.request("GET", "/apis").body["groups"]:
        prefixes += [f"/apis/{v['groupVersion']}" for v in group["versions"]]
    paths = {}
    for prefix in prefixes:
        listing = cluster.request("GET", prefix).body
        for res in listing.get("resources", []):
            if "/" not in res["name"]:  # not a subresource
                paths[(listing["groupVersion"], res["kind"])] = (prefix, res["name"], res["namespaced"])
    return paths


def object_path(
    paths: dict[tuple[str, str], tuple[str, str, bool]], doc: dict[str, Any], namespace: str
) -> str:
    key = (doc["apiVersion"], doc["kind"])
    assert key in paths, f"the API server serves no {key}"
    prefix, resource, namespaced = paths[key]
    scope = f"/namespaces/{namespace}" if namespaced else ""
    return f"{prefix}{scope}/{resource}/{doc['metadata']['name']}"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_installs_without_warnings(cluster: Cluster, helm: str, profile: Path) -> None:
    ns = restricted_namespace(cluster, f"vigil-{profile.stem.removesuffix('-values')}")
    grant_deployer(cluster, ns)
    result = cluster.helm(helm, "install", RELEASE, str(CHART), "--namespace", ns, "-f", str(profile))
    assert result.returncode == 0, f"helm install {profile.name}: {result.stderr}"
    # Any stderr line is a warning the API server (or helm) raised: PodSecurity "would violate",
    # deprecated APIs, unknown fields...
    assert result.stderr.strip() == "", f"helm install {profile.name} warned:\n{result.stderr}"

    manifest = cluster.helm(helm, "get", "manifest", RELEASE, "--namespace", ns)
    assert manifest.returncode == 0, manifest.stderr
    docs = [d for d in yaml.safe_load_all(manifest.stdout) if d]
    assert len(docs) >= 8, [d["kind"] for d in docs]
    paths = resource_paths(cluster)
    for doc in docs:
        path = object_path(paths, doc, ns)
        got = cluster.request("GET", path)
        assert got.status == 200, f"{doc['kind']}/{doc['metadata']['name']}: {got.status} at {path}"
        labels = got.body["metadata"].get("labels", {})
        assert doc["metadata"].get("labels", {}).items() <= labels.items(), doc["metadata"]["name"]

    # No controller turns the workloads into Pods here: create each Pod template as a Pod (dry
    # run, nothing stored) so Pod Security *enforcement* and Pod validation see it too.
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            template = doc["spec"]["template"]
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {**template["metadata"], "name": doc["metadata"]["name"]},
                "spec": template["spec"],
            }
            resp = cluster.request("POST", f"/api/v1/namespaces/{ns}/pods?dryRun=All", pod)
            assert resp.status == 201, (
                f"Pod of {doc['kind']}/{doc['metadata']['name']}: {resp.status} {resp.body.get('message')}"
            )
            assert resp.warnings == [], f"Pod of {doc['kind']}/{doc['metadata']['name']}: {resp.warnings}"

    # An upgrade with changed values goes through the server's update validation (immutable
    # selectors, StatefulSet fields) and must not warn either.
    upgrade = cluster.helm(
        helm,
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        "-f",
        str(profile),
        "--set",
        "ingest.replicas=3",
    )
    assert upgrade.returncode == 0, f"helm upgrade {profile.name}: {upgrade.stderr}"
    assert upgrade.stderr.strip() == "", f"helm upgrade {profile.name} warned:\n{upgrade.stderr}"


def test_oracle_catches_restricted_violations(cluster: Cluster, helm: str, tmp_path: Path) -> None:
    """The checks above can fail: in the same kind of namespace an unhardened Pod is refused and
    a chart with an unhardened Deployment installs only with a PodSecurity warning on stderr; the
    deployer cannot install where no RoleBinding lets it."""
    ns = restricted_namespace(cluster, "oracle")
    # No controller manager creates the namespace's default ServiceAccount, which Pod admission
    # looks up before Pod Security.
    cluster.create(
        f"/api/v1/namespaces/{ns}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},  # no hardening at all
    }
    refused = cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert refused.status == 403, refused.body
    assert "violates PodSecurity" in refused.body["message"]

    chart = tmp_path / "unhardened"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: unhardened\nversion: 0.1.0\n")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "unhardened"},
        "spec": {
            "selector": {"matchLabels": {"app": "unhardened"}},
            "template": {
                "metadata": {"labels": {"app": "unhardened"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    (chart / "templates" / "deployment.yaml").write_text(yaml.safe_dump(deployment))
    result = cluster.helm(helm, "install", "unhardened", str(chart), "--namespace", ns, user="admin")
    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" in result.stderr, result.stderr

    # RBAC is enforced: the deployer has no RoleBinding in this namespace.
    denied = cluster.helm(helm, "install", RELEASE, str(CHART), "--namespace", ns, "-f", str(PROFILES[0]))
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr, denied.stderr
