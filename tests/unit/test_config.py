"""Configuration: YAML + env, unknown keys named, secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streaming.config import ConfigError, load_config, redacted_dump

SECRET = "hunter2-very-secret"


def test_yaml_and_env_merge(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(
        "cameras:\n  gate-3:\n    url: rtsp://admin:" + SECRET + "@10.0.0.5/s1\n    audio: false\n"
        "kafka:\n  partitions: 3\n"
    )
    config = load_config(
        cfg, environ={"VIGIL_KAFKA__BOOTSTRAP_SERVERS": "k1:9092", "VIGIL_KAFKA__PARTITIONS": "12"}
    )
    assert config.kafka.bootstrap_servers == "k1:9092"
    assert config.kafka.partitions == 12  # env wins over the file
    assert config.cameras["gate-3"].audio is False
    assert config.cameras["gate-3"].resolved_url().endswith("@10.0.0.5/s1")


def test_camera_from_env_keeps_id_case() -> None:
    config = load_config(environ={"VIGIL_CAMERAS__Gate-3__URL": f"rtsp://u:{SECRET}@h/x"})
    assert "Gate-3" in config.cameras


@pytest.mark.parametrize(
    ("yaml_text", "env", "expected"),
    [
        ("kafka:\n  bootstrap: x\n", {}, "unknown key 'kafka.bootstrap'"),
        ("", {"VIGIL_REDIS__STREM": "x"}, "unknown key 'redis.strem'"),
        ("cameras:\n  c1:\n    url: rtsp://h/x\n    fps: -1\n", {}, "'cameras.c1.fps'"),
        ("cameras:\n  c1:\n    audio: true\n", {}, "exactly one of 'url' or 'url_file'"),
        ("- a\n- b\n", {}, "top level must be a mapping"),
        ("alert:\n  default_policy:\n    raise_k: 5\n    raise_n: 3\n", {}, "raise_k"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, yaml_text: str, env: dict[str, str], expected: str) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_config(cfg, environ=env)


def test_errors_never_echo_secret_values(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"kafka:\n  sasl_password: {SECRET}\n  partitions: {SECRET}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg, environ={})
    assert SECRET not in str(info.value)


def test_redacted_dump_hides_secrets() -> None:
    config = load_config(
        environ={
            "VIGIL_CAMERAS__c1__URL": f"rtsp://admin:{SECRET}@10.0.0.5/s1",
            "VIGIL_KAFKA__SASL_PASSWORD": SECRET,
            "VIGIL_REDIS__URL": f"redis://default:{SECRET}@redis:6379/0",
        }
    )
    text = json.dumps(redacted_dump(config))
    assert SECRET not in text
    assert "rtsp://***@10.0.0.5/s1" in text
    assert SECRET not in repr(config)


def test_url_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "url"
    secret_file.write_text(f"rtsp://u:{SECRET}@h/x\n")
    config = load_config(environ={"VIGIL_CAMERAS__c1__URL_FILE": str(secret_file)})
    assert config.cameras["c1"].resolved_url() == f"rtsp://u:{SECRET}@h/x"
    assert config.cameras["c1"].safe_url() == "rtsp://***@h/x"


def test_cli_unknown_key_exits_nonzero_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("fusion:\n  max_bach: 4\n")
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "config", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown key 'fusion.max_bach'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tooling_uses_no_vigil_variables_that_are_not_config_keys() -> None:
    """Every VIGIL_* variable is read as configuration, so scripts must not invent their own:
    a stray one (say VIGIL_PYTHON exported by make) would stop every service at start-up."""
    import re

    from streaming.config import VigilConfig

    root = Path(__file__).resolve().parents[2]
    files = [
        root / "Makefile",
        root / ".ci" / "run",
        *(root / "scripts").rglob("*"),
        *(root / "tests").rglob("*.py"),
        *(root / "bench").rglob("*.py"),
        *(root / "docker").rglob("*"),
        root / "docker-compose.yml",
    ]
    top_level = set(VigilConfig.model_fields) | {"config"}
    for path in files:
        if not path.is_file():
            continue
        # in Python only string literals name variables (VIGIL_SERVICES = {...} is a constant)
        pattern = r"[\"'{]VIGIL_([A-Z][A-Z0-9_]*)" if path.suffix == ".py" else r"\bVIGIL_([A-Z][A-Z0-9_]*)"
        for name in re.findall(pattern, path.read_text(errors="replace")):
            key = name.split("__")[0].lower()
            assert key in top_level or name.startswith("_"), (
                f"{path.relative_to(root)}: VIGIL_{name} is no config key"
            )


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_bytes(b"bus: memory\n\xd6")  # found by tests/fuzz/fuzz_config.py
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, environ={})


def test_a_malformed_list_in_an_environment_variable_names_the_variable_not_the_value() -> None:
    environ = {"VIGIL_KAFKA__SASL_PASSWORD": "[s3cret\x00"}  # found by tests/fuzz/fuzz_config.py
    with pytest.raises(ConfigError, match="VIGIL_KAFKA__SASL_PASSWORD") as caught:
        load_config(None, environ=environ)
    assert "s3cret" not in str(caught.value)
