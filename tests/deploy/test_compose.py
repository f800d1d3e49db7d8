"""docker-compose.yml: parsed, every Vigil service's command accepted by the real `vigil` CLI,
the mounted config valid for the real config schema, Prometheus scraping every service."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import build_parser
from streaming.config import load_config
from tests.deploy.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
VIGIL_SERVICES = {
    name: svc
    for name, svc in SERVICES.items()
    if str(svc.get("build", {}).get("dockerfile", "")) in ("docker/Dockerfile", "docker/Dockerfile.fusion")
}
HTTP_SERVICES = ("ingest", "fusion", "alert")


def test_compose_has_the_whole_system() -> None:
    assert {"kafka", "redis", "camera", "ingest", "fusion", "alert", "prometheus", "grafana"} <= set(SERVICES)
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert set(VIGIL_SERVICES) >= set(HTTP_SERVICES)


@pytest.mark.parametrize("name", sorted(VIGIL_SERVICES))
def test_command_is_accepted_by_the_cli(name: str) -> None:
    """`vigil <command> --help` exits 0 and the exact argument list parses (the images'
    entrypoint is `vigil`)."""
    command = [str(a) for a in VIGIL_SERVICES[name]["command"]]
    subcommand = command[0]
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"vigil {' '.join(command)} --help: {result.stderr[-2000:]}"
    build_parser(subcommand).parse_args(command)  # argparse exits (fails the test) on a bad argv


@pytest.mark.parametrize("name", sorted(VIGIL_SERVICES))
def test_service_config_is_valid(name: str) -> None:
    svc = VIGIL_SERVICES[name]
    env = {k: str(v) for k, v in svc["environment"].items()}
    mounts = dict(_volume(v) for v in svc["volumes"])
    config_path = mounts[env["VIGIL_CONFIG"]]
    config = load_config(config_path, environ={k: v for k, v in env.items() if k != "VIGIL_CONFIG"})
    assert config.bus == "kafka"
    assert config.kafka.bootstrap_servers == "kafka:9092"
    assert config.redis.url.get_secret_value().startswith("redis://redis:")
    for camera in config.cameras.values():
        assert camera.resolved_url().startswith("rtsp://camera:8554/")


@pytest.mark.parametrize("name", HTTP_SERVICES)
def test_service_is_hardened_and_scraped(name: str) -> None:
    svc = SERVICES[name]
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
    assert svc["cap_drop"] == ["ALL"]
    port = svc["environment"]["VIGIL_HTTP__PORT"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    assert f"{name}:{port}" in targets


def test_camera_clips_are_made_with_the_real_cli() -> None:
    """The sample camera's entrypoint runs `vigil make-clip ...`: each argument list parses, and
    the RTSP mounts it serves are the ones the compose config points cameras at."""
    script = (ROOT / "docker/camera-entrypoint.sh").read_text()
    calls = re.findall(r"vigil (make-clip [^\n]+)", script)
    assert calls, "the camera entrypoint makes no clip"
    for call in calls:
        argv = shlex.split(call.replace("${CLIP_DIR}", "/tmp/clips"))
        build_parser("make-clip").parse_args(argv)
    assert any("--incident" in call for call in calls)
    served = set(re.findall(r'--mount "(/[a-z]+)=', script))
    config = yaml.safe_load((ROOT / "deploy/compose/vigil.yaml").read_text())
    used = {c["url"].rsplit("/", 1)[1] for c in config["cameras"].values()}
    assert {f"/{u}" for u in used} <= served


def test_mounted_files_exist() -> None:
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
        build = svc.get("build")
        if build:
            assert (ROOT / build["dockerfile"]).is_file(), name


def _volume(spec: str) -> tuple[str, Path]:
    source, target = spec.split(":")[:2]
    return target, ROOT / source


def test_gpu_override_targets_fusion() -> None:
    override = yaml.safe_load((ROOT / "deploy/compose/gpu.yml").read_text())
    assert set(override["services"]) == {"fusion"}
    fusion = override["services"]["fusion"]
    (device,) = fusion["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    env = {**SERVICES["fusion"]["environment"], **fusion["environment"]}
    load_config(
        ROOT / "deploy/compose/vigil.yaml", environ={k: str(v) for k, v in env.items() if k != "VIGIL_CONFIG"}
    )


def test_model_commands_run_only_in_the_fusion_image() -> None:
    """docker/Dockerfile has no ONNX Runtime (the [fusion] extra): fusion and demo, which run the
    model, must use the image of docker/Dockerfile.fusion."""
    for name, svc in VIGIL_SERVICES.items():
        command = svc.get("command") or []
        if command and command[0] in ("fusion", "demo", "evaluate"):
            assert svc["build"]["dockerfile"] == "docker/Dockerfile.fusion", name
            assert svc["image"].startswith("vigil-fusion:"), name
