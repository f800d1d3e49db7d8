"""Dockerfiles: no Docker engine here, so their key properties are checked as text (non-root,
health check, multi-stage, no torch in run-time images, CUDA base for fusion), the files they
copy exist, and the health check script is exercised against a real health server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streaming.observability import HealthServer
from tests.deploy.conftest import ROOT

DOCKER = ROOT / "docker"
SERVICE_IMAGES = ("Dockerfile", "Dockerfile.fusion")
ALL_IMAGES = (*SERVICE_IMAGES, "Dockerfile.camera")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(name: str) -> list[tuple[str, str]]:
    ins = instructions(name)
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last_from:]


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_runs_as_non_root(name: str) -> None:
    users = [args for word, args in final_stage(name) if word == "USER"]
    assert users, "no USER in the final stage: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]


@pytest.mark.parametrize("name", SERVICE_IMAGES)
def test_service_image_is_multi_stage_with_healthcheck(name: str) -> None:
    ins = instructions(name)
    assert sum(word == "FROM" for word, _ in ins) >= 2, "not multi-stage"
    health = [args for word, args in final_stage(name) if word == "HEALTHCHECK"]
    assert health and "vigil-healthcheck" in health[0]
    assert ("VOLUME", '["/tmp"]') in final_stage(name)  # writable /tmp under a read-only root
    assert any(word == "ENTRYPOINT" and '"vigil"' in args for word, args in final_stage(name))


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_no_torch_in_images(name: str) -> None:
    locks: set[str] = set()
    for word, args in instructions(name):
        if word == "RUN" and "pip install" in args:
            assert "torch" not in args and "[train" not in args, args
        if word == "COPY":
            locks.update(re.findall(r"requirements/(\w+)\.txt", args))
    # the lock an image installs: fusion (run time + onnxruntime) in the fusion image only, run
    # time elsewhere; neither holds torch (tests/deploy/test_lock.py)
    assert locks == ({"fusion"} if name == "Dockerfile.fusion" else {"run"}), locks


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_dependencies_are_installed_before_the_code_is_copied(name: str) -> None:
    """A code change must not re-download every dependency (onnxruntime-gpu alone is ~340 MB):
    the layer that installs them comes before the first COPY of code, the code goes in --no-deps."""
    ins = instructions(name)
    first_code = min(
        i for i, (w, a) in enumerate(ins) if w == "COPY" and a.split()[0] in ("streaming", "services")
    )
    deps = [
        i
        for i, (w, a) in enumerate(ins)
        if w == "RUN" and "pip install --require-hashes -r requirements" in a
    ]
    assert deps and deps[0] < first_code, "dependencies are installed after the code is copied"
    code = [a for w, a in ins[first_code:] if w == "RUN" and "pip install" in a]
    assert code and all("--no-deps" in a for a in code), code


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.camera"])
def test_ingest_alert_and_camera_images_carry_no_onnxruntime(name: str) -> None:
    """onnxruntime(-gpu) is the [fusion] extra: `pip install .` in these images leaves it out."""
    runs = " ".join(args for word, args in instructions(name) if word == "RUN")
    assert "onnxruntime" not in runs and "[fusion]" not in runs
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.startswith("onnxruntime") for d in deps), deps


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_tini_is_pid_1(name: str) -> None:
    """An init in the image forwards SIGTERM and reaps children under compose and Kubernetes alike."""
    entry = [args for word, args in final_stage(name) if word == "ENTRYPOINT"]
    assert entry and entry[-1].startswith('["/usr/bin/tini", "--",'), entry
    runs = " ".join(args for word, args in final_stage(name) if word == "RUN")
    assert re.search(r"apt-get install [^&]*\btini\b", runs), "tini is not installed in the final stage"


def test_fusion_base_cuda_matches_onnxruntime_gpu() -> None:
    """The pinned onnxruntime-gpu is built for one CUDA major; the base image must carry it, or the
    CUDA provider silently falls back to the CPU. Checked against the build info of the installed
    wheel when it is the pinned version."""
    args = dict(
        a.split("=", 1) for word, a in instructions("Dockerfile.fusion") if word == "ARG" and "=" in a
    )
    cuda_major = re.match(r"nvidia/cuda:(\d+)\.", args["CUDA_IMAGE"])
    assert cuda_major, args["CUDA_IMAGE"]
    import onnxruntime as ort

    if ort.__version__ != args["ORT_VERSION"]:
        pytest.fail(
            f"Dockerfile.fusion pins onnxruntime-gpu {args['ORT_VERSION']}, the venv has {ort.__version__}: "
            "align ORT_VERSION (and the CUDA base) with the version the project tests"
        )
    from onnxruntime.capi import build_and_package_info as info

    assert info.package_name == "onnxruntime-gpu"
    assert info.cuda_version.split(".")[0] == cuda_major.group(1), (
        f"onnxruntime-gpu {ort.__version__} is built for CUDA {info.cuda_version}, the base is {args['CUDA_IMAGE']}"
    )


def test_fusion_image_has_cuda_and_onnxruntime_gpu() -> None:
    bases = [
        args for word, args in instructions("Dockerfile.fusion") if word == "ARG" and "CUDA_IMAGE=" in args
    ]
    assert bases and "nvidia/cuda:" in bases[0] and "cudnn" in bases[0] and "runtime" in bases[0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # what `pip install ".[fusion]"` installs: onnxruntime-gpu, and never torch
    assert any(d.startswith("onnxruntime-gpu") for d in project["optional-dependencies"]["fusion"])
    deps = project["dependencies"] + project["optional-dependencies"]["fusion"]
    assert not any(d.startswith(("torch", "torchvision", "torchaudio")) for d in deps)


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_copied_files_exist_and_pass_the_dockerignore(name: str) -> None:
    ignore = (DOCKER / f"{name}.dockerignore").read_text()
    allowed = [line[1:].removesuffix("/**") for line in ignore.splitlines() if line.startswith("!")]
    for word, args in instructions(name):
        if word == "COPY" and "--from=" not in args:
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert any(source.rstrip("/").startswith(a) for a in allowed), f"{source} is dockerignored"


def test_healthcheck_script_probes_healthz(tmp_path) -> None:
    script = DOCKER / "healthcheck.py"
    server = HealthServer(CollectorRegistry(), host="127.0.0.1", port=0).start()
    env = {**os.environ, "VIGIL_HTTP__PORT": str(server.port)}
    try:
        ok = subprocess.run([sys.executable, str(script)], env=env, timeout=30)
        assert ok.returncode == 0
        server.add_liveness(lambda: (False, "loop stuck"))
        failing = subprocess.run([sys.executable, str(script)], env=env, timeout=30)
        assert failing.returncode == 1
    finally:
        server.stop()
    gone = subprocess.run([sys.executable, str(script)], env=env, timeout=30)
    assert gone.returncode == 1


@pytest.mark.parametrize("name", SERVICE_IMAGES)
def test_default_model_is_baked_where_the_code_looks(name: str) -> None:
    import models
    from models.runtime import DEFAULT_MODEL_PATH

    assert DEFAULT_MODEL_PATH.parent == Path(models.__file__).resolve().parent / "default"
    runs = " ".join(args for word, args in instructions(name) if word == "RUN")
    assert "cp -r /src/models/default/." in runs and '"${PKG}/default/"' in runs


@pytest.mark.parametrize("name", SERVICE_IMAGES)
def test_service_image_copies_every_runtime_package(name: str) -> None:
    """Each top-level package the services ship (pyproject's package list) is copied into the image."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
    runtime = {p.rstrip("*") for p in include} - {"bench"}  # benchmarks are not part of an image
    copied = {
        args.split()[0].rstrip("/")
        for word, args in instructions(name)
        if word == "COPY" and "--from=" not in args
    }
    missing = sorted(runtime - copied)
    assert not missing, f"{name} does not COPY {missing}: the installed services would fail to import them"
