"""Model contract: round trip, and clear refusals of files without a valid contract."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.contract import CONTRACT_KEY, ModelContract, ModelContractError, load_model_contract


def _tiny_onnx(path, metadata: dict[str, str]) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    for k, v in metadata.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(path))


def test_round_trip(tmp_path) -> None:
    c = ModelContract(model_version="9.9", training={"data": "synthetic"})
    _tiny_onnx(tmp_path / "m.onnx", {CONTRACT_KEY: c.to_json()})
    loaded = load_model_contract(tmp_path / "m.onnx")
    assert loaded == c
    assert loaded.frames_per_window == 8 and loaded.samples_per_window == 32000


def test_refuses_a_file_without_the_contract(tmp_path) -> None:
    _tiny_onnx(tmp_path / "bare.onnx", {"other": "x"})
    with pytest.raises(ModelContractError, match=r"bare\.onnx: no 'vigil\.contract' metadata.*other"):
        load_model_contract(tmp_path / "bare.onnx")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("sample_rate"), "lacks field.*sample_rate"),
        (lambda d: d.update(fps="4"), "'fps' has wrong type"),
        (lambda d: d.update(contract_version=2), "contract_version 2 unsupported"),
        (lambda d: d.update(window_s=0), "'window_s' must be positive"),
        (lambda d: d["inputs"].pop("audio"), "'inputs' lacks 'audio'"),
        (lambda d: d.update(classes=[]), "non-empty list"),
    ],
)
def test_refuses_a_broken_contract(tmp_path, mutate, message: str) -> None:
    data = json.loads(ModelContract(model_version="1").to_json())
    mutate(data)
    _tiny_onnx(tmp_path / "m.onnx", {CONTRACT_KEY: json.dumps(data)})
    with pytest.raises(ModelContractError, match=message):
        load_model_contract(tmp_path / "m.onnx")


def test_refuses_missing_and_non_onnx_files(tmp_path) -> None:
    with pytest.raises(ModelContractError, match="not found"):
        load_model_contract(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    with pytest.raises(ModelContractError, match="not a loadable ONNX model"):
        load_model_contract(tmp_path / "junk.onnx")
    _tiny_onnx(tmp_path / "bad.onnx", {CONTRACT_KEY: "{not json"})
    with pytest.raises(ModelContractError, match="not valid JSON"):
        load_model_contract(tmp_path / "bad.onnx")


def test_run_time_modules_do_not_import_torch() -> None:
    """Services load models without torch: contract, runtime, synth, real-clip reader, evaluation."""
    import subprocess
    import sys

    code = (
        "import sys, models.contract, models.runtime, models.synth, models.synth.clip_render, "
        "models.realclips, models.evaluate, models.cli_train, models.cli_export; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_metadata_is_read_without_onnxruntime_or_onnx(tmp_path) -> None:
    """The ingest/alert image has neither: the contract is read from the protobuf wire format."""
    import subprocess
    import sys

    c = ModelContract(model_version="7.1")
    _tiny_onnx(tmp_path / "m.onnx", {"a": "1", CONTRACT_KEY: c.to_json(), "ü": "ß"})
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('onnxruntime', 'onnx'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from models.contract import load_model_contract, read_metadata\n"
        f"m = read_metadata({str(tmp_path / 'm.onnx')!r})\n"
        "print(sorted(m), m['ü'], load_model_contract("
        f"{str(tmp_path / 'm.onnx')!r}).model_version)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['a',", "'vigil.contract',", "'ü']", "ß", "7.1"]


def test_metadata_matches_onnx_for_a_model_with_weights(tmp_path) -> None:
    """Weights (a large graph field) are skipped, metadata after them is still found."""
    from models.contract import read_metadata

    w = helper.make_tensor("w", TensorProto.FLOAT, [256, 256], np.ones(256 * 256, np.float32).tolist())
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    for i in range(3):
        p = model.metadata_props.add()
        p.key, p.value = f"k{i}", "v" * (200 * i)
    onnx.save(model, str(tmp_path / "w.onnx"))
    expected = {p.key: p.value for p in onnx.load(str(tmp_path / "w.onnx")).metadata_props}
    assert read_metadata(tmp_path / "w.onnx") == expected


def test_truncated_and_foreign_protobufs_are_refused(tmp_path) -> None:
    c = ModelContract(model_version="1")
    _tiny_onnx(tmp_path / "m.onnx", {CONTRACT_KEY: c.to_json()})
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) - 7])
    with pytest.raises(ModelContractError, match=r"cut\.onnx: not a loadable ONNX model"):
        load_model_contract(tmp_path / "cut.onnx")
    # a well-formed protobuf that is not a model (no ir_version, no graph)
    (tmp_path / "other.onnx").write_bytes(b"\x12\x03abc")
    with pytest.raises(ModelContractError, match=r"not a loadable ONNX model.*no ir_version and no graph"):
        load_model_contract(tmp_path / "other.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelContractError, match="not a loadable ONNX model"):
        load_model_contract(tmp_path / "empty.onnx")
