"""Fitting honest confidence and the "none of my classes" check, at training time and on its own."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml.artifact import load_artifact
from ml.errors import MLError
from ml.openset import decode_bank, encode_bank, fit_open_set, fit_temperature, unknown_scores
from ml.predict import Predictor
from tests.modelgen import one_torch_thread, split_dataset, train_tiny


def _clusters(n: int, rng, centres):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + 0.05 * rng.standard_normal((n, centres.shape[1])), labels


def test_knn_check_flags_far_points_and_lets_known_ones_through():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 4
    train_x, train_y = _clusters(300, rng, centres)
    val_x, _ = _clusters(100, rng, centres)
    params = fit_open_set(train_x, train_y, val_x, np.zeros((100, 3)), k=5, per_class=40, rate=0.02)
    assert params["method"] == "knn" and params["fitted_on"] == 100 and params["rate"] == 0.02
    assert decode_bank(params["bank"]).shape == (120, 8)  # at most per_class vectors of each class
    known_x, _ = _clusters(500, rng, centres)
    far = np.eye(8)[5:] * 4 + 0.05 * rng.standard_normal((3, 8))
    p = params | {"bank": decode_bank(params["bank"])}
    known, unknown = unknown_scores(np.zeros((500, 3)), known_x, p), unknown_scores(np.zeros((3, 3)), far, p)
    assert (known > params["threshold"]).mean() <= 0.06
    assert (unknown > params["threshold"]).all()


def test_centred_check_stores_the_mean_and_scores_around_it():
    rng = np.random.default_rng(3)
    # Every feature shares a large common part (as pooled CNN features do): uncentred cosine
    # similarity is then close to 1 for any two pictures, known or not.
    offset = np.zeros(8)
    offset[0] = 20.0
    centres = offset + np.eye(8)[1:4]
    train_x, train_y = _clusters(300, rng, centres)
    val_x, _ = _clusters(100, rng, centres)
    params = fit_open_set(train_x, train_y, val_x, np.zeros((100, 3)), k=5, per_class=40, rate=0.02, margin=3)
    assert params["centred"] is True and params["margin"] == 3
    centre = decode_bank(params["centre"]).reshape(-1)
    bank = decode_bank(params["bank"])
    assert centre.shape == (8,) and abs(centre[0] - 20.0) < 0.05  # the mean of the stored training features
    assert np.allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-3)
    assert abs(bank[:, 0]).max() < 0.3  # the common part is gone from the bank (uncentred: about 0.999)
    far = offset + np.eye(8)[5:] + 0.05 * rng.standard_normal((3, 8))
    scores = unknown_scores(np.zeros((3, 3)), far, params)
    unit = (far - centre) / np.linalg.norm(far - centre, axis=1, keepdims=True)
    expected = 1 - np.sort(unit @ bank.T, axis=1)[:, ::-1][:, 4]  # fifth nearest, by hand
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert (scores > params["threshold"]).all()
    known_x, _ = _clusters(500, rng, centres)
    assert (unknown_scores(np.zeros((500, 3)), known_x, params) > params["threshold"]).mean() <= 0.06
    # Without centring (what older model files hold), the same far points look almost like the bank.
    plain = fit_open_set(train_x, train_y, val_x, np.zeros((100, 3)), k=5, per_class=40, rate=0.02, centred=False)
    assert "centre" not in plain and "centred" not in plain
    assert unknown_scores(np.zeros((3, 3)), far, plain).max() < 0.01 < scores.min()


def test_bank_encoding_round_trips_through_float16():
    bank = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    encoded = encode_bank(bank)
    assert encoded["shape"] == [7, 5] and isinstance(encoded["base64"], str)
    np.testing.assert_allclose(decode_bank(encoded), bank, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError):
        decode_bank({"shape": [2, 2], "base64": "not base64!"})


def test_fit_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 2000)
    logits = rng.standard_normal((2000, 4))
    logits[np.arange(2000), labels] += 2.0
    logits[rng.random(2000) < 0.3] = rng.standard_normal((1, 4))  # 30% noise: accuracy well below confidence
    assert fit_temperature(logits * 5, labels) > 2.5
    assert fit_temperature(logits, labels) == pytest.approx(fit_temperature(logits * 5, labels) / 5, rel=0.05)


def test_fit_open_set_needs_validation_pictures():
    with pytest.raises(MLError) as info:
        fit_open_set(np.ones((4, 3)), np.array([0, 0, 1, 1]), np.zeros((0, 3)), np.zeros((0, 2)))
    assert info.value.code == "empty_split"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("os") / "animals", val=0.2)
    with one_torch_thread():
        result = train_tiny(root, tmp_path_factory.mktemp("models"), name="os")
    return root, result


def test_training_stores_temperature_and_knn_check(trained):
    root, result = trained
    meta, _ = load_artifact(result.model_path)
    assert meta["calibration"]["temperature"] > 0
    check = meta["open_set"]
    assert check["method"] == "knn" and np.isfinite(check["threshold"])
    val_count = len((root / "val.txt").read_text(encoding="utf-8").splitlines())
    assert check["fitted_on"] == val_count > 0
    assert decode_bank(check["bank"]).shape[1] == 1280


def test_trained_model_lets_its_own_validation_pictures_through(trained):
    root, result = trained
    predictor = Predictor.load(result.model_path, backend="torch")
    rels = [line.split("\t")[0] for line in (root / "val.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = predictor.classify_many([root / rel for rel in rels])
    flagged = sum(a.unknown for a in answers)
    assert all(a.unknown is not None for a in answers)
    # The threshold lets all but 1% of validation pictures through; scoring again must agree.
    assert flagged <= max(1, round(0.01 * len(answers)))
    # A picture unlike every class (flat yellow: the classes are red, green and blue shapes) scores
    # above the typical validation picture. (Not flat grey: that is the blend of the three class
    # colours, so to this random-init model it sits at the training features' mean, the very point
    # the centred check measures from.)
    yellow = predictor.classify(Image.new("RGB", (80, 64), (230, 200, 30)))
    assert yellow.unknown_score > np.median([a.unknown_score for a in answers])


def test_training_without_the_check_stores_neither(trained, tmp_path):
    root, _ = trained
    with one_torch_thread():
        result = train_tiny(root, tmp_path, name="plain", open_set=False)
    meta, _ = load_artifact(result.model_path)
    assert meta["calibration"] is None and meta["open_set"] is None
    assert Predictor.load(result.model_path, backend="torch").classify(root / "猫" / "0000.jpg").unknown is None


def test_evaluate_unknown_reports_flagged_share_per_folder(trained, tmp_path):
    import json

    from ml.evaluate_unknown import evaluate_unknown

    root, result = trained
    others = tmp_path / "others"
    (others / "grey").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (80, 64), (120 + i, 120, 120)).save(others / "grey" / f"{i}.png")
    (others / "broken.jpg").write_bytes(b"\xff\xd8not really")
    report = evaluate_unknown(result.model_path, others, out_dir=tmp_path / "out")
    assert report["count"] == 3 and set(report["per_group"]) == {"grey"}
    assert report["per_group"]["grey"]["count"] == 3 and 0 <= report["flagged_rate"] <= 1
    assert report["skipped"][0]["file"] == "broken.jpg"
    saved = json.loads((tmp_path / "out" / "os.others.unknown.json").read_text(encoding="utf-8"))
    assert saved["flagged"] == report["flagged"]


def test_evaluate_unknown_needs_a_model_with_the_check(trained, tmp_path):
    from ml.evaluate_unknown import evaluate_unknown
    from tests.modelgen import with_meta

    root, result = trained
    old = with_meta(result.model_path, tmp_path / "old.pt")
    with pytest.raises(MLError) as info:
        evaluate_unknown(old, root)
    assert info.value.code == "no_open_set"


def test_cli_evaluate_expect_unknown(trained, runner, tmp_path):
    root, result = trained
    others = tmp_path / "others" / "grey"
    others.mkdir(parents=True)
    Image.new("RGB", (80, 64), (128, 128, 128)).save(others / "a.png")
    out = runner.invoke(args=["evaluate", str(result.model_path), str(others.parent), "--expect-unknown",
                              "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert "pictures of other things flagged unknown" in out.output and "grey" in out.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(args=["evaluate", str(result.model_path), str(empty), "--expect-unknown"])
    assert bad.exit_code != 0 and "No pictures" in bad.output


def test_quality_summary_puts_out_of_source_first_everywhere(trained, tmp_path):
    import shutil

    from ml.artifact import public_info, read_meta
    from ml.card import render_model_card
    from ml.evaluate import evaluate
    from ml.evaluations import summarise_evaluations

    root, result = trained
    model = tmp_path / "m.pt"
    shutil.copy(result.model_path, model)
    assert summarise_evaluations(model) == {}
    evaluate(model, root, "test", backend="torch", kind="in_source")
    folder = tmp_path / "elsewhere"
    for cls in ("猫", "狗", "牛"):
        shutil.copytree(root / cls, folder / cls)
    evaluate(model, folder, backend="torch", kind="out_of_source", tag="elsewhere")
    summary = summarise_evaluations(model)
    assert list(summary) == ["out_of_source", "in_source"]
    assert summary["out_of_source"]["count"] == 48 and 0 <= summary["out_of_source"]["accuracy"] <= 1
    assert summary["in_source"]["count"] < 48  # the test part only
    assert public_info(read_meta(model), model)["evaluations"] == summary
    card = render_model_card(model, command="make x", data_source="generated", limits=[])
    glance = card.split("## Quality at a glance", 1)[1]
    assert glance.index("out-of-source") < glance.index("in-source")
    assert "## Out-of-source quality (48 photos" in card


def test_fit_temperature_never_sharpens_without_a_mistake():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 50)
    logits = rng.standard_normal((50, 3))
    logits[np.arange(50), labels] += 4.0  # every validation picture right
    assert fit_temperature(logits, labels) >= 1.0
    wrong = logits.copy()
    wrong[:5] = wrong[:5, ::-1]  # a few mistakes: the fit may sharpen, but not past the limit
    assert fit_temperature(wrong * 0.1, labels) >= 0.25
