"""Evaluation: exact metrics on known answers, report files, legible Chinese class names."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from ml.artifact import ModelError
from ml.errors import DatasetError
from ml.evaluate import compute_metrics, evaluate, report_paths
from ml.plots import BUNDLED_FONT_FAMILY, bundled_cjk_font_path, cjk_font, cjk_font_path, render_confusion
from tests.modelgen import one_torch_thread, split_dataset, train_tiny


def _onehot(preds, n, confidence=0.8):
    probs = np.full((len(preds), n), (1 - confidence) / (n - 1))
    probs[np.arange(len(preds)), preds] = confidence
    return probs


def test_metrics_on_known_answers():
    classes = ["a", "b", "c"]
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    preds = [0, 0, 0, 1, 1, 1, 2, 0]
    m = compute_metrics(labels, _onehot(preds, 3), classes, [f"f{i}.jpg" for i in range(8)], k=2)
    assert m["accuracy"] == 0.75 and m["count"] == 8
    assert m["confusion"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["a"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert m["per_class"]["b"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert m["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert m["macro_f1"] == pytest.approx((0.75 + 0.8 + 0.6667) / 3, abs=1e-4)
    assert {(w["file"], w["label"], w["predicted"]) for w in m["misclassified"]} == {("f3.jpg", "a", "b"), ("f7.jpg", "c", "a")}
    assert m["misclassified"][0]["confidence"] == 0.8


def test_top_k_counts_the_true_label_among_the_k_best():
    probs = np.array([[0.5, 0.3, 0.2], [0.5, 0.2, 0.3], [0.1, 0.2, 0.7]])
    m = compute_metrics([1, 1, 0], probs, ["a", "b", "c"], k=2)
    assert m["accuracy"] == 0.0
    assert m["top_k"] == 2 and m["top_k_accuracy"] == pytest.approx(1 / 3, abs=1e-4)


def test_cjk_font_is_available():
    assert cjk_font_path(), "no CJK font: `pip install -r requirements.txt` brings noto-cjk-sans-otc"


def test_the_bundled_font_is_used_and_covers_the_class_names():
    """The font comes from the pinned pip package, not from whatever the machine has installed."""
    from matplotlib import font_manager, ft2font

    assert bundled_cjk_font_path() and cjk_font_path() == bundled_cjk_font_path()
    font = cjk_font()
    assert font.get_family() == [BUNDLED_FONT_FAMILY]
    resolved = font_manager.findfont(font, fallback_to_default=False)
    assert os.path.realpath(resolved) == os.path.realpath(bundled_cjk_font_path())
    assert resolved.face_index > 0  # the SC face of the collection, not its first (Japanese) one
    face = ft2font.FT2Font(resolved, face_index=resolved.face_index)
    assert face.family_name == "Noto Sans CJK SC"
    assert all(face.get_char_index(ord(ch)) for ch in "猫牛狗马羊测试")


def test_different_chinese_names_draw_different_pictures(tmp_path):
    """Tofu boxes (or the '#0' fallback) would make both pictures identical; real glyphs differ."""
    first = render_confusion([[5, 1], [0, 6]], ["猫", "狗"], tmp_path / "a.png")
    second = render_confusion([[5, 1], [0, 6]], ["马", "羊"], tmp_path / "b.png")
    with Image.open(first) as a, Image.open(second) as b:
        assert a.size == b.size
        assert np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).sum() > 1000


def test_confusion_png_draws_chinese_names_with_real_glyphs(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render_confusion([[5, 1], [0, 6]], ["猫", "狗"], tmp_path / "c.png", title="测试")
    missing = [w for w in caught if "missing from" in str(w.message).lower() or "glyph" in str(w.message).lower()]
    assert not missing, [str(w.message) for w in missing]
    with Image.open(tmp_path / "c.png") as img:
        assert img.format == "PNG" and img.width >= 400


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("eval") / "animals")
    return root, train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny").model_path


def test_evaluate_writes_metrics_and_heatmap_beside_the_model(trained):
    root, model = trained
    metrics = evaluate(model, root, "test")
    assert metrics["accuracy"] >= 0.9 and metrics["count"] == 12 and metrics["part"] == "test"
    metrics_path, png = report_paths(model)
    assert metrics_path == model.with_name("tiny.metrics.json") and png == model.with_name("tiny.confusion.png")
    saved = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert saved["accuracy"] == metrics["accuracy"] and saved["classes"] == ["牛", "狗", "猫"]
    assert all(w["file"].endswith(".jpg") for w in saved["misclassified"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    train_metrics = evaluate(model, root, "train")
    assert train_metrics["count"] == 36


def test_evaluate_needs_matching_classes(trained, tmp_path):
    root, model = trained
    other = split_dataset(tmp_path / "other", {"马": 8, "羊": 8, "牛": 8})
    with pytest.raises(ModelError) as err:
        evaluate(model, other)
    assert err.value.code == "model_incompatible"


def test_evaluate_errors(trained, tmp_path):
    root, model = trained
    with pytest.raises(DatasetError) as err:
        evaluate(model, root, "val")
    assert err.value.code == "empty_split"
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "牛")
    with pytest.raises(DatasetError) as err:
        evaluate(model, copy)
    assert err.value.code == "class_missing"
    with pytest.raises(ModelError) as err:
        evaluate(tmp_path / "none.pt", root)
    assert err.value.code == "model_missing"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield
