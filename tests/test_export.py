"""ONNX export: dynamic batch, outputs within tolerance of torch, metadata carried along."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ml.artifact import ModelError, build_from_artifact
from ml.export import DEFAULT_TOLERANCE, export_onnx
from ml.predict import file_sha256
from tests.modelgen import one_torch_thread, split_dataset, train_tiny


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("export") / "animals")
    names = {"en": ["cow", "dog", "cat"]}
    model = train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny", epochs=2, display_names=names).model_path
    return model, export_onnx(model)


def test_export_writes_onnx_and_metadata_beside_the_model(exported):
    model, result = exported
    assert result["onnx"] == str(model.with_suffix(".onnx"))
    assert result["max_abs_diff"] < DEFAULT_TOLERANCE == 1e-4
    onnx.checker.check_model(result["onnx"])
    meta = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["classes"] == ["牛", "狗", "猫"] and meta["display_names"] == {"en": ["cow", "dog", "cat"]}
    assert meta["source_sha256"] == file_sha256(model) and meta["onnx"]["opset"] == result["opset"]
    assert meta["input_size"] == 64 and meta["format_version"] == 1


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_matches_torch(exported, batch):
    model_path, result = exported
    model, _ = build_from_artifact(model_path)
    x = np.random.default_rng(batch).standard_normal((batch, 3, 64, 64)).astype(np.float32)
    session = ort.InferenceSession(result["onnx"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (batch, 3)
    assert np.abs(torch.softmax(torch.from_numpy(got), 1).numpy() - torch.softmax(torch.from_numpy(want), 1).numpy()).max() < 1e-4


def test_a_mismatch_beyond_tolerance_is_refused(exported):
    model, _ = exported
    with pytest.raises(ModelError) as err:
        export_onnx(model, tolerance=0.0)
    assert err.value.code == "export_mismatch"


def test_export_of_a_corrupt_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError) as err:
        export_onnx(bad)
    assert err.value.code == "model_corrupt"
    assert not bad.with_suffix(".onnx").exists()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield
