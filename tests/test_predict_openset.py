"""Answers with honest confidence and "none of my classes": temperature, open-set flag, both backends.

The tiny models here are trained by the tests; their `calibration` / `open_set` metadata is set by
hand, so each test knows which pictures must come out unknown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from ml.artifact import load_artifact
from ml.compact import halve_model
from ml.export import export_onnx
from ml.predict import ModelError, Prediction, Predictor, onnx_paths
from ml.transforms import softmax
from tests.modelgen import OPEN_SET_KEYS, one_torch_thread, split_dataset, train_tiny, with_meta


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("openset") / "animals")
    return root, train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny").model_path


def class_pictures(root: Path) -> list[Path]:
    return [sorted((root / c).glob("*.jpg"))[0] for c in ("牛", "狗", "猫")]


def blank() -> Image.Image:
    return Image.new("RGB", (80, 64), (128, 128, 128))


def unit_rows(x: np.ndarray) -> list[list[float]]:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).tolist()


def strip_features_output(onnx_path: Path) -> None:
    """Turn a two-output export into one like those written before the features output existed."""
    model = onnx.load(str(onnx_path))
    kept = [o for o in model.graph.output if o.name == "logits"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    onnx.save(model, str(onnx_path))


# --- the answer object -------------------------------------------------------------------------


def test_prediction_as_dict_is_json_ready():
    answer = Prediction([("马", 0.41), ("牛", 0.3)], unknown=True, unknown_score=0.72)
    assert answer.as_dict() == {
        "top_k": [{"label": "马", "probability": 0.41}, {"label": "牛", "probability": 0.3}],
        "unknown": True, "unknown_score": 0.72,
    }
    assert json.loads(json.dumps(Prediction([("cat", 1.0)]).as_dict()))["unknown"] is None


# --- a model file from before this change --------------------------------------------------------


def test_old_model_file_predicts_with_unknown_not_available(trained, tmp_path):
    root, model = trained
    old = with_meta(model, tmp_path / "old.pt")
    assert not set(OPEN_SET_KEYS) & set(load_artifact(old)[0])
    predictor = Predictor.load(old, backend="torch")
    answer = predictor.classify(class_pictures(root)[2])
    assert answer.unknown is None and answer.unknown_score is None
    assert answer.top_k == predictor.predict(class_pictures(root)[2]) and answer.top_k[0][0] == "猫"
    assert not predictor.has_open_set
    assert predictor.info["open_set"] is None and predictor.info["temperature"] == 1.0
    logits, _ = predictor.forward([class_pictures(root)[0]])
    assert np.allclose(predictor.probabilities([class_pictures(root)[0]]), softmax(logits))


def test_old_single_output_onnx_export_still_works(trained, tmp_path):
    root, model = trained
    old = with_meta(model, tmp_path / "old.pt")
    export_onnx(old)
    strip_features_output(onnx_paths(old)[0])
    predictor = Predictor.load(old, backend="onnx")
    assert not predictor._runner.has_features
    logits, features = predictor.forward(class_pictures(root))
    assert features is None and logits.shape == (3, 3)
    answers = predictor.classify_many(class_pictures(root) + [blank()])
    assert [a.top_k[0][0] for a in answers[:3]] == ["牛", "狗", "猫"]
    assert all(a.unknown is None for a in answers)


def test_knn_check_without_features_output_is_switched_off_not_a_crash(trained, tmp_path):
    root, model = trained
    features = Predictor.load(model, backend="torch").forward(class_pictures(root))[1]
    path = with_meta(model, tmp_path / "knn.pt", open_set={"method": "knn", "threshold": 0.01, "k": 1,
                                                           "bank": unit_rows(features)})
    export_onnx(path)
    strip_features_output(onnx_paths(path)[0])
    predictor = Predictor.load(path, backend="onnx")
    assert predictor.classify(blank()).unknown is None
    assert predictor.info["open_set"] is None and "export it again" in predictor.info["open_set_problem"]


# --- temperature ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_temperature_softens_probabilities_without_changing_the_order(trained, tmp_path, backend):
    root, model = trained
    plain = Predictor.load(with_meta(model, tmp_path / "plain.pt"), backend="torch")
    path = with_meta(model, tmp_path / "warm.pt", calibration={"temperature": 2.5})
    if backend == "onnx":
        export_onnx(path)
    warm = Predictor.load(path, backend=backend)
    assert warm.info["temperature"] == 2.5
    logits, _ = plain.forward(class_pictures(root))
    assert np.abs(warm.probabilities(class_pictures(root)) - softmax(logits / 2.5)).max() < 1e-4
    for picture in class_pictures(root):
        before, after = plain.predict(picture), warm.predict(picture)
        assert [c for c, _ in before] == [c for c, _ in after]
        assert after[0][1] < before[0][1]  # less sure, not differently ordered
        assert warm.classify(picture).top_k == after


# --- open-set methods ------------------------------------------------------------------------------


def test_msp_threshold_flags_a_blank_picture(trained, tmp_path):
    root, model = trained
    plain = Predictor.load(with_meta(model, tmp_path / "plain.pt"), backend="torch")
    confident = max(class_pictures(root), key=lambda p: plain.predict(p)[0][1])
    top_known, top_blank = plain.predict(confident)[0][1], plain.predict(blank())[0][1]
    assert top_blank < top_known, "the tiny model is surer of a blank picture than of every class picture"
    threshold = -(top_known + top_blank) / 2  # msp scores are minus the top probability
    path = with_meta(model, tmp_path / "msp.pt", open_set={"method": "msp", "threshold": threshold, "temperature": 1.0})
    predictor = Predictor.load(path, backend="torch")
    assert predictor.has_open_set and predictor.info["open_set"]["method"] == "msp"
    unknown, known = predictor.classify_many([blank(), confident])
    assert unknown.unknown is True and known.unknown is False
    assert unknown.unknown_score == pytest.approx(-top_blank) and known.unknown_score == pytest.approx(-top_known)
    closest = plain.predict(blank())  # still answered: the closest classes
    assert [c for c, _ in unknown.top_k] == [c for c, _ in closest]
    assert unknown.top_k[0][1] == pytest.approx(closest[0][1], abs=1e-5)


def test_energy_score_and_flag(trained, tmp_path):
    root, model = trained
    path = with_meta(model, tmp_path / "energy.pt", open_set={"method": "energy", "threshold": 1e9, "temperature": 2.0})
    predictor = Predictor.load(path, backend="torch")
    logits, _ = predictor.forward([blank()])
    z = logits[0].astype(np.float64) / 2.0
    answer = predictor.classify(blank())
    assert answer.unknown_score == pytest.approx(-np.log(np.exp(z).sum()), rel=1e-6)
    assert answer.unknown is False  # nothing scores above 1e9


def test_knn_with_a_tiny_bank(trained, tmp_path):
    root, model = trained
    known = class_pictures(root)
    features = Predictor.load(model, backend="torch").forward(known)[1]
    path = with_meta(model, tmp_path / "knn.pt", open_set={"method": "knn", "threshold": 1e-3, "k": 1,
                                                           "bank": unit_rows(features)})
    predictor = Predictor.load(path, backend="torch")
    answers = predictor.classify_many(known + [blank()], batch_size=2)
    assert [a.unknown for a in answers] == [False, False, False, True]
    assert all(abs(a.unknown_score) < 1e-5 for a in answers[:3])  # each picture is its own neighbour
    blank_features = predictor.forward([blank()])[1][0]
    cosine = np.asarray(unit_rows(features)) @ (blank_features / np.linalg.norm(blank_features))
    assert answers[3].unknown_score == pytest.approx(1 - cosine.max(), abs=1e-5)


def test_centred_knn_check_gives_the_same_flags_on_both_backends(trained, tmp_path):
    from ml.openset import decode_bank, fit_open_set

    root, model = trained
    known = class_pictures(root)
    features = Predictor.load(model, backend="torch").forward(known)[1]
    fitted = fit_open_set(np.repeat(features, 4, axis=0), np.repeat(np.arange(3), 4), features, np.zeros((3, 3)),
                          k=1, margin=0, rate=0.0)
    # Each known picture is its own neighbour (its score is float16 rounding only): a threshold above that.
    fitted["threshold"] = 1e-3
    path = with_meta(model, tmp_path / "centred.pt", open_set=fitted | {"temperature": 1.0})
    export_onnx(path)
    by_torch = Predictor.load(path, backend="torch").classify_many(known + [blank()])
    by_onnx = Predictor.load(path, backend="onnx").classify_many(known + [blank()])
    assert [a.unknown for a in by_torch] == [a.unknown for a in by_onnx] == [False, False, False, True]
    np.testing.assert_allclose([a.unknown_score for a in by_torch], [a.unknown_score for a in by_onnx], atol=1e-4)
    centre = decode_bank(fitted["centre"]).reshape(-1)
    blank_features = Predictor.load(path, backend="torch").forward([blank()])[1][0] - centre
    cosine = decode_bank(fitted["bank"]) @ (blank_features / np.linalg.norm(blank_features))
    assert by_torch[3].unknown_score == pytest.approx(1 - cosine.max(), abs=1e-4)
    info = Predictor.load(path, backend="onnx").info["open_set"]
    assert info["centred"] is True and "centre" not in info and info["bank_size"] == 12


def test_public_info_shows_the_check_but_never_the_bank(trained, tmp_path):
    root, model = trained
    features = Predictor.load(model, backend="torch").forward(class_pictures(root))[1]
    path = with_meta(model, tmp_path / "knn.pt", calibration={"temperature": 1.3},
                     open_set={"method": "knn", "threshold": 0.2, "k": 2, "temperature": 1.0,
                               "bank": unit_rows(features)})
    info = Predictor.load(path, backend="torch").info
    assert info["temperature"] == 1.3
    assert info["open_set"] == {"method": "knn", "threshold": 0.2, "k": 2, "temperature": 1.0, "bank_size": 3}
    assert '"bank"' not in json.dumps(info, ensure_ascii=False)  # nowhere, under any key


@pytest.mark.parametrize("open_set,problem", [
    ({"method": "mahalanobis-9", "threshold": 1.0}, "unknown to this version"),
    ({"method": "msp", "threshold": "high"}, "not a number"),
    ({"method": "knn", "threshold": 0.1}, "feature bank is missing"),
    ({"method": "knn", "threshold": 0.1, "bank": [[1.0, 0.0]], "centre": [1.0, 0.0, 0.0]}, "centre is not one vector"),
])
def test_unusable_open_set_metadata_still_answers(trained, tmp_path, open_set, problem):
    root, model = trained
    predictor = Predictor.load(with_meta(model, tmp_path / "odd.pt", open_set=open_set), backend="torch")
    answer = predictor.classify(class_pictures(root)[0])
    assert answer.unknown is None and answer.top_k[0][0] == "牛"
    assert problem in predictor.info["open_set_problem"]


def test_a_bank_of_the_wrong_width_is_a_clear_error(trained, tmp_path):
    root, model = trained
    path = with_meta(model, tmp_path / "wide.pt", open_set={"method": "knn", "threshold": 0.1, "bank": [[1.0, 0.0]]})
    predictor = Predictor.load(path, backend="torch")
    with pytest.raises(ModelError) as err:
        predictor.classify(class_pictures(root)[0])
    assert err.value.code == "model_incompatible" and "2-number vectors" in err.value.message


# --- both backends, and the half-precision pair -----------------------------------------------------


@pytest.fixture
def knn_pair(trained, tmp_path):
    """A model with temperature and a kNN check, exported to ONNX (both outputs)."""
    root, model = trained
    bank = Predictor.load(model, backend="torch").forward(class_pictures(root))[1]
    path = with_meta(model, tmp_path / "pair.pt", calibration={"temperature": 1.7},
                     open_set={"method": "knn", "threshold": 1e-3, "k": 1, "bank": unit_rows(bank)})
    result = export_onnx(path)
    return root, path, result


def test_export_has_logits_and_features_outputs(knn_pair):
    _, path, result = knn_pair
    names = [o.name for o in onnx.load(str(onnx_paths(path)[0])).graph.output]
    assert names == ["logits", "features"] == result["outputs"]
    assert result["max_feature_diff"] < 1e-4 and result["max_abs_diff"] < 1e-4
    sidecar = json.loads(onnx_paths(path)[1].read_text(encoding="utf-8"))
    assert sidecar["calibration"] == {"temperature": 1.7} and sidecar["open_set"]["method"] == "knn"


def test_torch_and_onnx_give_the_same_probabilities_features_and_flags(knn_pair):
    root, path, _ = knn_pair
    eager, onnx_p = Predictor.load(path, backend="torch"), Predictor.load(path, backend="onnx")
    batch = class_pictures(root) + [blank(), Image.new("RGB", (70, 90), (250, 250, 250))]
    (la, fa), (lb, fb) = eager.forward(batch), onnx_p.forward(batch)
    assert np.abs(la - lb).max() < 1e-3
    assert fa.shape == fb.shape == (5, 1280)
    assert np.abs(fa - fb).max() / np.abs(fa).max() < 1e-4
    assert np.abs(eager.probabilities(batch) - onnx_p.probabilities(batch)).max() < 1e-4
    a, b = eager.classify_many(batch), onnx_p.classify_many(batch)
    assert [x.unknown for x in a] == [x.unknown for x in b] == [False, False, False, True, True]
    assert max(abs(x.unknown_score - y.unknown_score) for x, y in zip(a, b, strict=True)) < 1e-4
    assert [x.top_k[0][0] for x in a] == [y.top_k[0][0] for y in b]


def test_both_outputs_survive_halving(knn_pair):
    root, path, _ = knn_pair
    report = halve_model(path)
    # float16 rounding of BatchNorm-fused ONNX weights differs a little from torch's (see test_compact).
    assert report["max_prob_diff_torch_vs_onnx"] < 5e-3 and report["max_feature_diff_torch_vs_onnx"] < 5e-3
    names = [o.name for o in onnx.load(str(onnx_paths(path)[0])).graph.output]
    assert names == ["logits", "features"]
    Predictor.clear_cache()
    auto, eager = Predictor.load(path), Predictor.load(path, backend="torch")
    assert auto.backend == "onnx" and auto.has_open_set
    batch = class_pictures(root) + [blank()]
    a, b = auto.classify_many(batch), eager.classify_many(batch)
    assert [x.unknown for x in a] == [x.unknown for x in b] == [False, False, False, True]


def test_onnx_classify_needs_no_torch(knn_pair):
    root, path, _ = knn_pair
    path.unlink()  # a desktop install ships only the .onnx and .json pair
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from PIL import Image\n"
        "from ml.predict import Predictor\n"
        f"p = Predictor.load({str(path)!r})\n"
        f"a = p.classify({str(class_pictures(root)[1])!r})\n"
        "b = p.classify(Image.new('RGB', (80, 64), (128, 128, 128)))\n"
        "print(p.backend, a.top_k[0][0], a.unknown, b.unknown)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnx", "狗", "False", "True"]
