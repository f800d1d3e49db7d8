"""The committed model on real recordings from source packages it never trained on.

``models/heldout/real-test`` holds camera-like clips (H.264 + AAC) mixed by
``python -m models.corpus.heldout`` from the corpus's *test*-split packages only (see its
``SOURCES.tsv``): real incident recordings over real ambience, with real everyday events between
them; half the clips show the incidents, half only let the camera hear them. The clips are read
through the `vigil train --real-dir` path (PyAV decode, 4 fps frames, 16 kHz audio, 2 s windows
every 1 s, a window labelled when an incident overlaps it by 0.25 s).

The bounds are a ratchet, not the goal: model 2.5.0 scores window AP 0.70 here (2.4.0: 0.66,
2.3.0: 0.65, 2.2.0: 0.65, 2.1.0: 0.59, 2.0.0: 0.61; model 1.0.0, trained on the generator only: 0.27, chance
being 0.25), and each bound sits a little below the current model and above the older models
where they allow, so a regression fails. These 32 incidents are a small sample: 2.5.0 was chosen
on the val packages, and on 1,200 test-package windows it scores 0.84 (2.4.0: 0.82, 2.3.0: 0.80,
2.2.0: 0.78, 2.1.0: 0.73; MODEL_CARD.md). Issue 11's goal (AP 0.90, every class 0.75) is not reached yet;
MODEL_CARD.md says so. Raise the bounds when a better model lands.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.corpus.sources import RESERVED_PACKAGES
from models.corpus.split import split_of
from models.evaluate import MODES, real_report
from models.realclips import load_real_windows
from models.runtime import DEFAULT_MODEL_PATH, FusionModel

HELDOUT = Path(__file__).resolve().parents[2] / "models" / "heldout" / "real-test"


@pytest.fixture(scope="module")
def rep() -> dict[str, Any]:
    data = load_real_windows(HELDOUT)
    model = FusionModel(DEFAULT_MODEL_PATH, providers=["CPUExecutionProvider"])
    preds = {}
    for mode, (ma, mv) in MODES.items():
        mask = np.tile(np.asarray([[ma, mv]], np.float32), (len(data), 1))
        out = model.predict(data.frames, data.audio, mask)
        preds[mode] = (out.anomaly, out.class_probs)
    r = real_report(data.labels, data.scenarios, preds)
    print(r)
    return r


def test_heldout_clips_come_only_from_test_packages() -> None:
    with (HELDOUT / "SOURCES.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert rows
    packages = {r["package"] for r in rows} - {"models.synth"}
    assert packages and all(split_of(p) == "test" for p in packages), packages
    assert not packages & set(RESERVED_PACKAGES)
    assert all(r["licence"] for r in rows)


def test_window_anomaly_ap_on_unheard_packages(rep: dict[str, Any]) -> None:
    assert rep["n_incident"] >= 60, rep["n_incident"]
    assert rep["both"]["anomaly_ap"] >= 0.66, rep["both"]


def test_per_class_ap_on_unheard_packages(rep: dict[str, Any]) -> None:
    assert rep["both"]["mean_class_ap"] >= 0.44, rep["both"]["per_class_ap"]
    assert rep["both"]["min_class_ap"] >= 0.10, rep["both"]["per_class_ap"]


def test_sound_alone_still_detects(rep: dict[str, Any]) -> None:
    # half the clips never show their incidents: with video masked the model must still hear them
    assert rep["audio_only"]["anomaly_ap"] >= 0.60, rep["audio_only"]


def test_ordinary_windows_rarely_score_high(rep: dict[str, Any]) -> None:
    assert rep["ordinary_above_threshold"] <= 0.08, rep["ordinary_above_threshold"]


def test_service_path_on_unheard_packages(tmp_path: Path) -> None:
    """`vigil evaluate` (ingest decode, fusion windows, the default alert policy) on the same clips.

    Ratchet bounds again, a little below the current model only for ONNX Runtime's arithmetic on
    other CPUs (the run itself is deterministic: next test). 2.5.0: window AP 0.69, 14 of 32
    incidents alerted, 13 with the right class, no false alarm in 8 minutes (over a whole hour of
    everyday footage it raises 15 per hour, MODEL_CARD.md); 2.4.0: 0.65, 13, 12 and none (14 per
    hour over the hour); 2.3.0: 0.65, 15, 13 and none (17 per
    hour over the hour); 2.2.0: 0.63, 15, 14 and 2 (26 per hour over the
    hour); 2.1.0: 0.57, 13, 11 and 2 (38 per hour); 2.0.0: 0.60, 15, 13 and none here (40 per hour
    over the hour); 1.0.0: 0.30, 6 with the right class, 2 false alarms.
    """
    import json

    from services.cli import main

    assert main(["evaluate", str(HELDOUT), "--report", str(tmp_path), "--jobs", "2"]) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    overall = result["overall"]
    assert not result["problems"]
    assert overall["incidents"] == 32 and result["footage_s"] == pytest.approx(480.0, abs=2.0)
    assert overall["window_ap"] >= 0.66, overall
    assert overall["recall_right_class"] >= 0.40, overall
    assert overall["false_alarms"] <= 1, overall


def test_evaluate_gives_the_same_scores_every_run() -> None:
    """The same clips give the same windows and scores whenever and however they are run.

    Capture times of offline runs start at one fixed instant on the window grid; with the wall
    time of opening as the anchor the windows slid against the footage by up to one hop and
    window AP moved between 0.53 and 0.61 run to run. Runs here differ in start time, in how many
    clips go at once and in their order.
    """
    import time

    from services.evaluate.footage import discover, score_clips
    from streaming.config import load_config

    sources, problems = discover(HELDOUT)
    assert not problems
    picked = sources[:3]
    config = load_config(None, environ={})
    model = FusionModel(DEFAULT_MODEL_PATH, providers=["CPUExecutionProvider"])

    def scores(order: list[Any], jobs: int) -> dict[str, list[tuple[float, float, float]]]:
        scored, failed = score_clips(order, config, config.alert.default_policy, model=model, jobs=jobs)
        assert not failed
        return {c.result.name: [(w.start_s, w.end_s, w.anomaly) for w in c.result.windows] for c in scored}

    first = scores(picked, jobs=1)
    time.sleep(0.37)  # not a whole hop later
    again = scores(list(reversed(picked)), jobs=3)
    assert first == again
    # the first window starts with the clip
    assert all(windows and windows[0][0] == 0.0 for windows in first.values())
