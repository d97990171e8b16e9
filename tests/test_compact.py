"""ml.compact: a half-precision model pair is about half the size and gives the same answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.compact import halve_model
from ml.export import export_onnx
from ml.predict import Predictor, onnx_paths
from tests import modelgen
from tests.imagegen import shapes


@pytest.fixture(scope="module")
def model_pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("compact")
    root = modelgen.split_dataset(base / "ds")
    result = modelgen.train_tiny(root, base / "models", epochs=1)
    export_onnx(result.model_path)
    return result.model_path


def test_halving_shrinks_both_files_and_keeps_answers(model_pair):
    pictures = [shapes(i, (90, 70)) for i in range(6)]
    Predictor.clear_cache()
    before = Predictor.load(model_pair, backend="torch").probabilities(pictures)
    onnx_path, sidecar = onnx_paths(model_pair)
    sizes = (model_pair.stat().st_size, onnx_path.stat().st_size)

    report = halve_model(model_pair)

    assert model_pair.stat().st_size < 0.6 * sizes[0]
    assert onnx_path.stat().st_size < 0.6 * sizes[1]
    assert report["max_prob_diff_torch_vs_onnx"] < 1e-3
    Predictor.clear_cache()
    torch_p = Predictor.load(model_pair, backend="torch")
    auto_p = Predictor.load(model_pair)  # the sidecar still names this exact .pt: ONNX is chosen
    assert auto_p.backend == "onnx"
    after_torch = torch_p.probabilities(pictures)
    after_onnx = auto_p.probabilities(pictures)
    assert np.abs(after_torch - before).max() < 1e-2
    assert np.abs(after_onnx - after_torch).max() < 5e-3  # graph-level fusions differ slightly
    assert [p[0][0] for p in torch_p.predict_many(pictures)] == [p[0][0] for p in auto_p.predict_many(pictures)]
    assert json.loads(sidecar.read_text())["storage"] == "float16"
    assert torch_p.meta["storage"] == "float16"


def test_model_card_reports_the_model_files_numbers(model_pair, runner):
    import json as _json

    from ml.evaluate import report_paths

    result = runner.invoke(args=["model-card", str(model_pair), "--command", "make default-model", "--wall-seconds", "12"])
    assert result.exit_code == 0, result.output
    card = model_pair.with_name("MODEL_CARD.md").read_text(encoding="utf-8")
    metrics = _json.loads(report_paths(model_pair)[0].read_text(encoding="utf-8"))
    assert f"**{metrics['accuracy'] * 100:.1f}%**" in card
    for cls in ("猫", "狗", "牛"):
        assert f"| {cls} |" in card
    assert "make default-model" in card and "12 s for the whole command" in card
    assert "![confusion matrix]" in card


def test_shrink_and_card_commands_fail_clearly_on_a_missing_model(runner, tmp_path):
    for args in (["shrink-model", str(tmp_path / "none.pt")], ["model-card", str(tmp_path / "none.pt"), "--command", "x"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "Model file not found" in result.output


def test_model_card_names_the_weakest_out_of_source_source_from_the_measured_report(model_pair, runner):
    import json as _json

    report = model_pair.with_name(f"{model_pair.stem}.out_of_source.metrics.json")
    per_source = {"site-a": {"count": 40, "accuracy": 0.975, "per_class": {"猫": {}, "狗": {}}},
                  "site-b": {"count": 12, "accuracy": 0.8333, "per_class": {"牛": {}}}}
    report.write_text(_json.dumps({"per_source": per_source}), encoding="utf-8")
    try:
        result = runner.invoke(args=["model-card", str(model_pair), "--command", "x"])
        assert result.exit_code == 0, result.output
        card = model_pair.with_name("MODEL_CARD.md").read_text(encoding="utf-8")
        assert "(site-b: 牛, 12 photos) were recognised only 83.3% of the time" in card
    finally:
        report.unlink()
