"""The committed model against freshly generated windows from seeds never used in training.

Training used seeds 0 (train), 1_000_003 (held-out) and 2_000_003 (ambiguous); these tests
draw from 7_000_001 and 7_000_002, so every scene here is new to the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.evaluate import predict_modes, report
from models.runtime import DEFAULT_MODEL_PATH, FusionModel
from models.synth import AMBIGUOUS_MIX, make_dataset

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason="committed model missing")

HELDOUT_SEED, AMBIGUOUS_SEED = 7_000_001, 7_000_002


@pytest.fixture(scope="module")
def rep() -> dict[str, Any]:
    model = FusionModel(providers=["CPUExecutionProvider"])

    def predict(f, a, m):
        out = model.predict(f, a, m)
        return out.anomaly, out.class_probs

    ho = make_dataset(360, HELDOUT_SEED)
    amb = make_dataset(200, AMBIGUOUS_SEED, AMBIGUOUS_MIX)
    r = report(ho.labels, ho.scenarios, predict_modes(ho, predict), amb.labels, predict_modes(amb, predict))
    print(r)
    return r


def test_anomaly_ap_on_unseen_seeds(rep: dict[str, Any]) -> None:
    assert rep["heldout"]["both"]["anomaly_ap"] >= 0.95, rep["heldout"]["both"]


def test_per_class_ap_on_unseen_seeds(rep: dict[str, Any]) -> None:
    per_class = rep["heldout"]["both"]["per_class_ap"]
    assert all(ap >= 0.90 for ap in per_class.values()), per_class


def test_fusion_beats_the_better_single_modality_on_ambiguous_windows(rep: dict[str, Any]) -> None:
    amb = rep["ambiguous"]
    assert amb["fusion_gain_ap"] >= 0.05, {
        m: amb[m]["anomaly_ap"] for m in ("both", "audio_only", "video_only")
    }


def test_visual_incidents_still_scored_without_audio(rep: dict[str, Any]) -> None:
    ma = rep["missing_audio"]
    assert ma["visual_incidents_ap"] >= 0.8, ma
    assert np.isfinite(ma["visual_incidents_roc_auc"])


def test_contribution_follows_the_modality_that_carries_the_incident() -> None:
    """A scream heard off camera is explained mostly by audio; a silent fight mostly by video."""
    from models.synth import make_window

    model = FusionModel(providers=["CPUExecutionProvider"])
    shares = {}
    for scenario in ("scream_offscreen", "fight_silent"):
        wins = [make_window([HELDOUT_SEED + 1, i], scenario=scenario) for i in range(12)]
        out = model.predict(np.stack([w[0] for w in wins]), np.stack([w[1] for w in wins]))
        np.testing.assert_allclose(out.contribution.sum(axis=1), 1.0, atol=1e-5)
        shares[scenario] = out.contribution.mean(axis=0)
    assert shares["scream_offscreen"][0] > 0.6, shares
    assert shares["fight_silent"][1] > 0.6, shares
