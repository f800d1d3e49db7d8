"""``vigil evaluate`` on generated clips through the real pipeline, with the stub model.

The clips are dark and silent except where they are white and loud (:mod:`tests.evaluate_clips`),
and the stub model scores brightness and loudness, so the expectation follows from the clips
and the policy alone, whatever the default model is: every bright range raises exactly one
``explosion`` alert (the stub's top class); a bright range labelled ``explosion`` is a right-class
detection, one labelled ``gunshot`` a wrong-class detection, an unlabelled one a false alarm.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from services.evaluate import calibrate_cli, cli
from streaming.config import load_config
from tests.evaluate_clips import write_test_clip
from tests.fusion_stub_model import build_stub_model

POLICY_YAML = """\
fusion:
  model_path: {model}
  providers: [CPUExecutionProvider]
alert:
  default_policy:
    anomaly_threshold: 0.3
    classes: {{explosion: {{threshold: 0.3}}}}
    raise_k: 1
    raise_n: 1
    resolve_m: 2
    cooldown_s: 0
"""


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    write_test_clip(d / "explosion.mp4", 20, [(6, 10)])
    write_test_clip(d / "quiet-with-flash.mp4", 20, [(12, 15)])
    write_test_clip(d / "gunshot.mp4", 20, [(5, 9)])
    write_test_clip(d / "noaudio.mp4", 10, [], audio=False)
    (d / "broken.mp4").write_bytes(b"not a video at all")
    (d / "labels.csv").write_text(
        "file,start_s,end_s,class\n"
        "explosion.mp4,6,10,explosion\n"
        "quiet-with-flash.mp4,,,\n"
        "gunshot.mp4,5,9,gunshot\n"
        "noaudio.mp4,,,\n"
        "broken.mp4,,,\n"
        "missing.mp4,3,4,scream\n"
    )
    model = build_stub_model(d / "stub.onnx")
    (d / "vigil.yaml").write_text(POLICY_YAML.format(model=model))
    return d


def evaluate_args(clips_dir: Path, report: Path, **kw: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [str(clips_dir), "--config", str(clips_dir / "vigil.yaml"), "--report", str(report)]
    )
    for k, v in kw.items():
        setattr(args, k, v)
    return args


def test_evaluate_matches_the_hand_checked_expectation(
    clips_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(evaluate_args(clips_dir, tmp_path / "report")) == 0
    out, err = capsys.readouterr()
    doc = json.loads((tmp_path / "report" / "evaluation.json").read_text())
    overall = doc["overall"]
    assert (overall["incidents"], overall["detected"], overall["detected_right_class"]) == (2, 2, 1)
    assert overall["false_alarms"] == 1
    assert doc["footage_s"] == pytest.approx(70.0, abs=0.5)  # 3 x 20 s + 10 s; broken and missing left out
    assert overall["false_alarms_per_hour"] == pytest.approx(3600 / 70, rel=0.01)
    for delay in (m["delay_s"] for m in doc["incidents"]):
        assert 0.0 <= delay <= 3.0  # raised at the end of the first window that is mostly bright
    assert doc["confusion"] == {
        "explosion": {"explosion": 1},
        "gunshot": {"explosion": 1},
        "normal": {"explosion": 1},
    }
    assert [a["class"] for c in doc["clips"] for a in c["alerts"]] == ["explosion"] * 3
    noaudio = next(c for c in doc["clips"] if c["name"] == "noaudio.mp4")
    assert noaudio["alerts"] == [] and "no audio" in noaudio["note"]
    problems = {p["clip"]: p["message"] for p in doc["problems"]}
    assert set(problems) == {"broken.mp4", "missing.mp4", "noaudio.mp4"}
    assert "unreadable" in problems["broken.mp4"] and "does not exist" in problems["missing.mp4"]
    assert "right class" in out and "confusion" in out and "broken.mp4: unreadable" in err
    html = (tmp_path / "report" / "report.html").read_text()
    # a timeline per evaluated clip + PR curves (explosion, gunshot, all), embedded and as files
    assert html.count("<img src='data:image/png;base64,") == 4 + 3
    pictures = sorted(p.name for p in (tmp_path / "report" / "pictures").iterdir())
    assert pictures == [
        "pr-all.png",
        "pr-explosion.png",
        "pr-gunshot.png",
        "timeline-explosion.png",
        "timeline-gunshot.png",
        "timeline-noaudio.png",
        "timeline-quiet-with-flash.png",
    ]


def test_evaluate_refuses_without_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clips").mkdir()
    args = evaluate_args(tmp_path / "clips", tmp_path / "r")
    args.config = None
    assert cli.run(args) == 2
    assert "no labels.csv or labels.json" in capsys.readouterr().err


def calibrate_args(clips_dir: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    return parser.parse_args([str(clips_dir), "--config", str(clips_dir / "vigil.yaml"), *extra])


def test_calibrate_refuses_two_incidents(clips_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate_cli.run(calibrate_args(clips_dir, "--max-false-alarms-per-hour", "1")) == 2
    assert "only 3 labelled incident(s) in 6 clip(s)" in capsys.readouterr().err  # one names a missing file


def test_calibrate_finds_the_separating_threshold_and_writes_loadable_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Incidents are white and loud (stub anomaly ~0.75, explosion ~0.39); door slams grey and
    silent (~0.25, ~0.24): with no false alarm allowed, the policy must sit between the two."""
    d = tmp_path / "clips"
    rows = ["file,start_s,end_s,class"]
    for i in range(5):
        write_test_clip(d / f"incident-{i}.mp4", 12, [(4 + i % 3, 7 + i % 3)], dim=((1, 3),))
        rows.append(f"incident-{i}.mp4,{4 + i % 3},{7 + i % 3},explosion")
    for i in range(3):
        write_test_clip(d / f"slam-{i}.mp4", 12, [], dim=((3 + i, 6 + i),))
        rows.append(f"slam-{i}.mp4,,,")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    model = build_stub_model(tmp_path / "stub.onnx")
    (d / "vigil.yaml").write_text(f"fusion:\n  model_path: {model}\n  providers: [CPUExecutionProvider]\n")
    out_yaml = tmp_path / "policy.yaml"
    args = calibrate_args(d, "--max-false-alarms-per-hour", "0", "--camera", "gate-3", "-o", str(out_yaml))
    assert calibrate_cli.run(args) == 0
    printed = capsys.readouterr().out
    assert "right-class recall 100%" in printed and "0.00 false alarms per hour" in printed
    policy = load_config(out_yaml, environ={}).alert.cameras["gate-3"]
    separates_by_anomaly = 0.26 <= policy.anomaly_threshold <= 0.74
    separates_by_class = 0.25 <= policy.classes["explosion"].threshold <= 0.38
    assert separates_by_anomaly or separates_by_class, policy
    assert policy.anomaly_threshold <= 0.74 and policy.classes["explosion"].threshold <= 0.38
