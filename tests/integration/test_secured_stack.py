"""Vigil on the secured stack, as production runs it (``scripts/stack.sh secure-up``).

Kafka speaks only SASL_SSL (SCRAM-SHA-512 over TLS, ACLs: the service user ``vigil`` may use
topics and groups named ``vigil*``); Redis speaks only TLS, its default user is off, the services'
user ``vigil`` is confined to ``vigil:*`` keys, and ``subscriber`` may only read the alert stream
through consumer groups. Certificates and passwords are made by the stack script; every secret
reaches Vigil through a file named in ``.stack/secure/vigil.yaml``.

Oracles: the whole pipeline (``vigil ingest``, ``fusion``, ``alert`` as processes) delivers an
alert that the subscriber reads with ``vigil alerts tail``; a wrong password, an untrusted CA, a
plaintext or anonymous client each get one clear error, create nothing and deliver nothing; no
password ever appears in a log; the subscriber cannot write or read anything but its stream.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from pydantic import SecretStr

from streaming.alert_store import RedisSetupError, redis_client, setup_problem
from streaming.bus import BusError
from streaming.config import VigilConfig, load_config
from streaming.kafka_bus import KafkaBus
from tests.evaluate_clips import write_test_clip
from tests.fusion_stub_model import build_stub_model
from tests.integration.conftest import ROOT, STACK_DIR, STACK_SH
from tests.integration.processes import STUB_SERVICES_YAML, ServiceProcesses

SECURE = STACK_DIR / "secure"


@dataclass(frozen=True)
class SecuredStack:
    """What ``secure-up`` made: the config file, the CA and the password files."""

    config_path: Path

    @property
    def ca(self) -> Path:
        return SECURE / "tls" / "ca.pem"

    def password_file(self, name: str) -> Path:
        return SECURE / "secrets" / f"{name}.password"

    def passwords(self) -> list[str]:
        return [p.read_text().strip() for p in (SECURE / "secrets").glob("*.password")]

    def config(self, **env: str) -> VigilConfig:
        return load_config(self.config_path, environ=env)

    def subscriber_config(self, tmp_path: Path) -> Path:
        """A configuration for the least-privilege Redis user (what a subscriber's host would hold)."""
        redis_section = yaml.safe_load(self.config_path.read_text())["redis"]
        redis_section.update(username="subscriber", password_file=str(self.password_file("redis-subscriber")))
        path = tmp_path / "subscriber.yaml"
        path.write_text(yaml.safe_dump({"redis": redis_section}))
        return path


@pytest.fixture(scope="session")
def secured_stack() -> SecuredStack:
    proc = subprocess.run(
        ["bash", str(STACK_SH), "secure-up"], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/stack.sh secure-up failed:\n{proc.stderr[-3000:]}")
    return SecuredStack(SECURE / "vigil.yaml")


def vigil(args: list[str], env: dict[str, str], timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def unique_names(u: str) -> dict[str, str]:
    """Topics and groups the service user's ACLs allow (``vigil*``), fresh for this test."""
    return {
        "VIGIL_TOPICS__VIDEO": f"vigil.secure.{u}.video",
        "VIGIL_TOPICS__AUDIO": f"vigil.secure.{u}.audio",
        "VIGIL_TOPICS__SCORES": f"vigil.secure.{u}.scores",
        "VIGIL_TOPICS__DEAD_LETTER": f"vigil.secure.{u}.dlq",
        "VIGIL_FUSION__GROUP_ID": f"vigil-secure-fusion-{u}",
        "VIGIL_ALERT__GROUP_ID": f"vigil-secure-alert-{u}",
        "VIGIL_HTTP__HOST": "127.0.0.1",
        "VIGIL_HTTP__PORT": "0",
    }


def admin_topics(stack: SecuredStack) -> set[str]:
    """Every topic, as the broker's admin sees them."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=stack.config().kafka.bootstrap_servers,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="admin",
        sasl_plain_password=stack.password_file("kafka-admin").read_text().strip(),
        ssl_cafile=str(stack.ca),
    )
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.fixture
def pipeline_env(secured_stack: SecuredStack, tmp_path: Path) -> Iterator[tuple[ServiceProcesses, str]]:
    u = uuid.uuid4().hex[:8]
    camera = f"cam-{u}"
    clip = write_test_clip(tmp_path / "clip.mp4", 16, [(5.0, 9.0)])
    model = build_stub_model(tmp_path / "stub.onnx")
    config = tmp_path / "vigil.yaml"
    secured = yaml.safe_load(secured_stack.config_path.read_text())
    merged = yaml.safe_load(STUB_SERVICES_YAML.format(model=model))
    merged["kafka"] = {**secured["kafka"], **merged["kafka"]}
    merged["redis"] = secured["redis"]
    config.write_text(yaml.safe_dump(merged))
    env = {
        **unique_names(u),
        "VIGIL_CONFIG": str(config),
        f"VIGIL_CAMERAS__{camera}__URL": str(clip),
        "VIGIL_INGEST__REALTIME": "true",
    }
    pipeline = ServiceProcesses(env, tmp_path)
    try:
        yield pipeline, camera
    finally:
        pipeline.stop()


def tail_as_subscriber(subscriber: Path, group: str, camera: str) -> list[dict[str, object]]:
    proc = vigil(
        ["alerts", "tail", "--config", str(subscriber), "--group", group, "--camera", camera, "--json"], {}
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_the_pipeline_delivers_an_alert_through_the_secured_stack(
    secured_stack: SecuredStack, pipeline_env: tuple[ServiceProcesses, str], tmp_path: Path
) -> None:
    pipeline, camera = pipeline_env
    pipeline.start("alert")
    pipeline.start("fusion")
    time.sleep(3.0)
    pipeline.start("ingest")
    subscriber = secured_stack.subscriber_config(tmp_path)
    group = f"secure-test-{uuid.uuid4().hex[:8]}"
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        events += tail_as_subscriber(subscriber, group, camera)  # the group resumes where it stopped
        if any(str(e["type"]).endswith("resolved.v1") for e in events):
            break
        if (name := pipeline.exited()) is not None:
            pytest.fail(f"{name} exited:\n{pipeline.log(name)[-3000:]}")
        time.sleep(1.0)
    else:
        pytest.fail(
            f"no resolved alert within 150 s:\n{pipeline.log('fusion')[-2000:]}\n{pipeline.log('alert')[-2000:]}"
        )
    kinds = [str(e["type"]).split(".")[2] for e in events]
    assert kinds[0] == "raised" and kinds[-1] == "resolved", kinds
    assert len({e["id"] for e in events}) == len(events)  # each alert once
    assert {e["data"]["class"] for e in events} == {"explosion"}  # type: ignore[index]
    assert len({e["data"]["incident_id"] for e in events}) == 1  # type: ignore[index]
    pipeline.stop()
    logs = "".join(pipeline.log(name) for name in pipeline.procs)
    assert "authentication failed" not in logs and "not trusted" not in logs
    for password in secured_stack.passwords():
        assert password not in logs


def test_a_wrong_kafka_password_gives_one_clear_error_and_creates_nothing(
    secured_stack: SecuredStack, tmp_path: Path
) -> None:
    u = uuid.uuid4().hex[:8]
    clip = write_test_clip(tmp_path / "clip.mp4", 4, [])
    wrong = "not-the-password-" + u
    env = {
        **unique_names(u),
        "VIGIL_CONFIG": str(secured_stack.config_path),
        "VIGIL_KAFKA__SASL_PASSWORD": wrong,
        f"VIGIL_CAMERAS__cam-{u}__URL": str(clip),
    }
    started = time.monotonic()
    proc = vigil(["ingest"], env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert time.monotonic() - started < 45  # not the whole 60 s connect timeout: a password is not an outage
    assert output.count("authentication failed") == 1, output
    assert "kafka.sasl_username" in output
    assert wrong not in output
    assert not {t for t in admin_topics(secured_stack) if u in t}


def other_ca(tmp_path: Path) -> Path:
    """A CA that signed nothing the stack serves."""
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=Not ours",
            ),
            *("-keyout", str(tmp_path / "other.key"), "-out", str(tmp_path / "other-ca.pem")),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path / "other-ca.pem"


def test_an_untrusted_certificate_gives_one_clear_error(secured_stack: SecuredStack, tmp_path: Path) -> None:
    ca = other_ca(tmp_path)
    u = uuid.uuid4().hex[:8]
    env = {**unique_names(u), "VIGIL_CONFIG": str(secured_stack.config_path)}
    kafka = vigil(["alert"], {**env, "VIGIL_KAFKA__SSL_CAFILE": str(ca)})
    output = kafka.stdout + kafka.stderr
    assert kafka.returncode == 1, output
    assert output.count("TLS certificate is not trusted") == 1 and "kafka.ssl_cafile" in output, output
    redis_run = vigil(["alert"], {**env, "VIGIL_REDIS__SSL_CAFILE": str(ca)})
    output = redis_run.stdout + redis_run.stderr
    assert redis_run.returncode == 1, output
    assert output.count("TLS certificate is not trusted") == 1 and "redis.ssl_cafile" in output, output
    assert not {t for t in admin_topics(secured_stack) if u in t}  # the alert service created nothing


def test_a_wrong_redis_password_gives_one_clear_error(secured_stack: SecuredStack, tmp_path: Path) -> None:
    subscriber = secured_stack.subscriber_config(tmp_path)
    proc = vigil(
        ["alerts", "tail", "--config", str(subscriber), "--follow"], {"VIGIL_REDIS__PASSWORD": "wrong-one"}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("authentication failed for user 'subscriber'") == 1, proc.stderr
    assert "wrong-one" not in proc.stderr


def test_plaintext_and_anonymous_clients_are_refused(secured_stack: SecuredStack) -> None:
    config = secured_stack.config()
    plaintext = config.kafka.model_copy(update={"security_protocol": "PLAINTEXT"})
    with pytest.raises(BusError, match="the broker speaks TLS"):
        KafkaBus(plaintext, client_id="plaintext", connect_timeout_s=20).ensure_topics([])
    # TLS but no SASL identity: the broker never answers an unauthenticated request
    anonymous = config.kafka.model_copy(update={"security_protocol": "SSL"})
    with pytest.raises(BusError):
        KafkaBus(anonymous, client_id="anonymous", connect_timeout_s=8).ensure_topics([])

    plain_redis = config.redis.model_copy(
        update={
            "url": SecretStr(config.redis.url.get_secret_value().replace("rediss://", "redis://")),
            "ssl_cafile": None,
        }
    )
    with pytest.raises(redis.ConnectionError) as caught:
        redis_client(plain_redis).ping()
    problem = setup_problem(caught.value, plain_redis, probe=True)
    assert problem is not None and "speaks TLS" in str(problem)
    nobody = config.redis.model_copy(update={"username": None, "password_file": None})
    with pytest.raises(redis.AuthenticationError) as caught_auth:
        redis_client(nobody).ping()
    assert isinstance(setup_problem(caught_auth.value, nobody), RedisSetupError)


def test_the_subscriber_reads_its_stream_and_nothing_else(secured_stack: SecuredStack) -> None:
    config = secured_stack.config()
    service = redis_client(config.redis)
    subscriber = redis_client(
        config.redis.model_copy(
            update={
                "username": "subscriber",
                "password_file": secured_stack.password_file("redis-subscriber"),
            }
        )
    )
    stream = config.redis.stream
    entry = service.xadd(stream, {"id": f"probe-{uuid.uuid4().hex}", "event": "{}"})
    group = f"least-privilege-{uuid.uuid4().hex[:8]}"
    subscriber.xgroup_create(stream, group, id="0")
    read = subscriber.xreadgroup(group, "c1", {stream: ">"}, count=100_000)
    assert entry in [eid for _, entries in read for eid, _ in entries]
    assert subscriber.xack(stream, group, entry) == 1
    assert subscriber.xpending(stream, group)["pending"] >= 0
    forbidden = [
        lambda: subscriber.xadd(stream, {"id": "forged"}),
        lambda: subscriber.delete(stream),
        lambda: subscriber.xtrim(stream, maxlen=0),
        lambda: subscriber.get("vigil:alert:seen:x"),
        lambda: subscriber.set("vigil:anything", "1"),
        lambda: subscriber.publish(config.redis.channel, "forged"),
        lambda: subscriber.keys("*"),
    ]
    for call in forbidden:
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    # the services' user is confined too: its own key space, nothing dangerous
    with pytest.raises(redis.exceptions.NoPermissionError):
        service.set("other:key", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        service.flushall()
    service.xdel(stream, entry)


def test_readme_shows_the_secured_configuration_these_tests_prove(secured_stack: SecuredStack) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### A secured deployment", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "README: no yaml block under 'A secured deployment'"
    shown = yaml.safe_load(block.group(1))
    proven = yaml.safe_load(secured_stack.config_path.read_text())
    for part in ("kafka", "redis"):
        assert set(shown[part]) == set(proven[part]), part
        for key in ("security_protocol", "sasl_mechanism"):
            if key in proven[part]:
                assert shown[part][key] == proven[part][key]
        assert str(shown["redis"]["url"]).startswith("rediss://")
    path = SECURE / "readme-check.yaml"  # the shown keys are real ones: the block loads
    path.write_text(block.group(1))
    load_config(path, environ={})
