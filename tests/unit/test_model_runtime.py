"""FusionModel run-time wrapper on the committed model: validation and defined missing-modality results."""

from __future__ import annotations

import numpy as np
import pytest

from models.runtime import DEFAULT_MODEL_PATH, FusionModel, ModelInputError, binding_device, select_providers

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason="committed model missing")


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return FusionModel(providers=["CPUExecutionProvider"])


def _inputs(b: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (b, 8, 112, 112, 3), dtype=np.uint8), (
        0.01 * rng.standard_normal((b, 32000))
    ).astype(np.float32)


def test_contract_drives_the_shapes(model: FusionModel) -> None:
    c = model.contract
    assert (c.fps, c.frame_height, c.frame_width, c.sample_rate, c.window_s) == (4, 112, 112, 16000, 2.0)
    assert c.classes == ("normal", "fight", "scream", "gunshot", "glass_break", "explosion")
    assert c.training["metrics"]["anomaly_ap"] is not None
    assert model.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("frames_shape", "frames_dtype", "audio_shape", "message"),
    [
        ((2, 8, 112, 112, 3), np.float32, (2, 32000), "frames: dtype float32, expected uint8"),
        ((2, 8, 224, 224, 3), np.uint8, (2, 32000), r"frames: shape .* expected \[B,8,112,112,3\]"),
        ((2, 6, 112, 112, 3), np.uint8, (2, 32000), "4 fps"),
        ((2, 8, 112, 112, 3), np.uint8, (2, 88200), "wrong sample rate"),
        ((2, 8, 112, 112, 3), np.uint8, (3, 32000), "batch sizes differ"),
        ((2, 8, 112, 112, 3), np.uint8, (2, 32000, 1), r"audio: shape"),
    ],
)
def test_malformed_inputs_give_clear_errors(model, frames_shape, frames_dtype, audio_shape, message) -> None:
    with pytest.raises(ModelInputError, match=message):
        model.predict(np.zeros(frames_shape, frames_dtype), np.zeros(audio_shape, np.float32))


def test_other_malformed_inputs(model: FusionModel) -> None:
    f, a = _inputs()
    with pytest.raises(ModelInputError, match="sample rate 44100 Hz: the model needs 16000 Hz"):
        model.predict(f, a, sample_rate=44100)
    with pytest.raises(ModelInputError, match="modality_mask: shape"):
        model.predict(f, a, np.ones((2, 3), np.float32))
    with pytest.raises(ModelInputError, match="0 or 1"):
        model.predict(f, a, np.full((2, 2), 0.5, np.float32))
    with pytest.raises(ModelInputError, match="audio: dtype int16"):
        model.predict(f, a.astype(np.int16))
    with pytest.raises(ModelInputError, match="both None"):
        model.predict(None, None)
    with pytest.raises(ModelInputError, match="empty batch"):
        model.predict(f[:0], a[:0])


def test_nan_audio_is_treated_as_missing_audio(model: FusionModel) -> None:
    f, a = _inputs()
    a_nan = a.copy()
    a_nan[1, 100] = np.nan
    out = model.predict(f, a_nan)
    assert out.audio_missing.tolist() == [False, True]
    masked = model.predict(f, a, np.asarray([[1, 1], [0, 1]], np.float32))
    np.testing.assert_allclose(out.anomaly, masked.anomaly, atol=1e-6)
    assert out.contribution[1, 0] < 1e-6  # no share for the missing modality
    assert np.isfinite(out.anomaly).all()


def test_missing_modalities_as_none(model: FusionModel) -> None:
    f, a = _inputs()
    v = model.predict(f, None)
    assert v.audio_missing.all() and np.allclose(v.contribution[:, 1], 1.0, atol=1e-6)
    s = model.predict(None, a)
    assert s.video_missing.all() and np.allclose(s.contribution[:, 0], 1.0, atol=1e-6)


def test_provider_selection_drops_unavailable_ones() -> None:
    assert select_providers(["NoSuchExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ModelInputError, match="none of the providers"):
        select_providers(["NoSuchExecutionProvider"])


def test_committed_model_is_small_and_opset_17_or_newer() -> None:
    import onnx

    assert DEFAULT_MODEL_PATH.stat().st_size < 20_000_000
    proto = onnx.load(str(DEFAULT_MODEL_PATH))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_owned_inputs_are_used_in_place_and_give_the_same_scores(model: FusionModel) -> None:
    f, a = _inputs()
    a[1, 5] = np.nan
    mask = np.ones((2, 2), np.float32)
    reference = model.predict(f, a.copy(), mask.copy())
    out = model.predict(f, a, mask, owned=True)
    np.testing.assert_array_equal(out.anomaly, reference.anomaly)
    assert out.audio_missing.tolist() == [False, True]
    assert not a[1].any() and mask[1, 0] == 0.0  # the caller's arrays were used, not copied
    untouched = np.ones((2, 2), np.float32)
    a2 = _inputs()[1]
    a2[0, 0] = np.inf
    model.predict(f, a2, untouched)
    assert untouched.tolist() == [[1.0, 1.0], [1.0, 1.0]] and np.isinf(a2[0, 0])  # not owned: copies


def test_io_binding_path_gives_the_same_outputs(model: FusionModel) -> None:
    assert model.binding_device is None  # a plain run on the CPU provider
    f, a = _inputs(3)
    plain = model.predict(f, a)
    bound = FusionModel(providers=["CPUExecutionProvider"])
    bound.binding_device = "cpu"  # the IO-binding code path, with host memory
    out = bound.predict(f, a)
    np.testing.assert_array_equal(out.anomaly, plain.anomaly)
    np.testing.assert_array_equal(out.class_probs, plain.class_probs)
    np.testing.assert_array_equal(out.contribution, plain.contribution)
    assert binding_device(["CUDAExecutionProvider", "CPUExecutionProvider"]) == "cuda"
    assert binding_device(["TensorrtExecutionProvider", "CUDAExecutionProvider"]) == "cuda"
    assert binding_device(["CPUExecutionProvider"]) is None
