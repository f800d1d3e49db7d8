"""`vigil fusion` start-up checks: a model without a contract is refused (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.fusion.cli import parse_time_ms
from tests.fusion_stub_model import build_stub_model, stub_contract

ROOT = Path(__file__).resolve().parents[2]


def test_model_without_contract_exits_2_without_traceback(tmp_path: Path) -> None:
    bare = build_stub_model(tmp_path / "bare.onnx", stub_contract(), with_contract=False)
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "fusion", "--model", str(bare)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "model refused" in proc.stderr and "vigil.contract" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_model_file_exits_2(tmp_path: Path) -> None:
    from services.cli import main

    assert main(["fusion", "--model", str(tmp_path / "nope.onnx")]) == 2


def test_replay_needs_a_separate_scores_topic(tmp_path: Path) -> None:
    from services.cli import main

    assert main(["fusion", "--replay-from", "0"]) == 2
    assert main(["fusion", "--replay-from", "0", "--scores-topic", "vigil.scores.v1"]) == 2


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1795836000000", 1795836000000),
        ("2026-11-28T03:20:00Z", 1795836000000),
        ("2026-11-28T03:20:00", 1795836000000),
        ("2026-11-28T04:20:00+01:00", 1795836000000),
    ],
)
def test_parse_time_ms(text: str, ms: int) -> None:
    assert parse_time_ms(text) == ms


def test_parse_time_ms_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time_ms("yesterday")
