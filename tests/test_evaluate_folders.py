"""Evaluation on any folder of class folders: sources, calibration, skipped files, clear refusals."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ml.calibration import bin_index, calibration, expected_calibration_error, reliability_bins
from ml.dataset.sources import UNLISTED, read_sources
from ml.errors import DatasetError, MLError
from ml.evalset import EvalSet, choose_sources, class_folders, per_source
from ml.evaluate import evaluate, report_files
from ml.predict import Predictor
from tests.imagegen import CLASS_COLOURS, encode, html_page, shapes, truncated_jpeg
from tests.modelgen import (
    ALWAYS_UNKNOWN,
    CLASSES,
    NEVER_UNKNOWN,
    one_torch_thread,
    split_dataset,
    train_tiny,
    with_meta,
)

#: The colour each class was trained with (tests.modelgen tints classes in CLASSES order).
COLOUR = {name: CLASS_COLOURS[i] for i, name in enumerate(CLASSES)}


# -- calibration, by hand ------------------------------------------------------------------------


def test_ece_and_bins_on_answers_worked_out_by_hand():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    right = np.array([True, False, True, True])
    # Bin (0.933, 1]: claims 0.95, is right half the time; bin (0.533, 0.6]: claims 0.55, always right.
    assert expected_calibration_error(conf, right) == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    bins = reliability_bins(conf, right)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert bins[14] == {"lower": pytest.approx(14 / 15, abs=1e-6), "upper": 1.0, "count": 2, "confidence": 0.95,
                        "accuracy": 0.5}
    assert bins[8]["count"] == 2 and bins[8]["accuracy"] == 1.0
    assert bins[0]["count"] == 0 and bins[0]["confidence"] is None


def test_perfectly_calibrated_answers_have_zero_ece():
    conf = np.full(10, 0.8)
    right = np.array([True] * 8 + [False] * 2)
    assert expected_calibration_error(conf, right) == pytest.approx(0.0)
    assert expected_calibration_error(np.zeros(0), np.zeros(0, dtype=bool)) == 0.0


def test_bin_edges_are_lower_exclusive_upper_inclusive():
    assert bin_index(np.array([0.0, 1 / 15, 0.0667, 0.5, 1.0])).tolist() == [0, 0, 1, 7, 14]
    with pytest.raises(ValueError):
        bin_index(np.array([0.5]), n_bins=0)


def test_calibration_uses_the_top_class():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    result = calibration([0, 2], probs)
    assert result["mean_confidence"] == pytest.approx(0.65)
    assert result["ece"] == pytest.approx(0.5 * 0.3 + 0.5 * 0.6, abs=1e-4)


# -- sources -------------------------------------------------------------------------------------


def _evalset(tmp_path):
    rows = [("猫/a.jpg", 0), ("猫/b.jpg", 0), ("狗/c.jpg", 1), ("狗/d.jpg", 1)]
    sources = {"猫/a.jpg": "siteA", "狗/c.jpg": "siteA", "猫/b.jpg": "图库乙"}
    return EvalSet(tmp_path, ["猫", "狗"], rows, "all", sources)


def test_per_source_groups_answers_by_where_the_picture_came_from(tmp_path):
    chosen = _evalset(tmp_path)
    files = [r for r, _ in chosen.rows]
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    result = per_source(chosen, files, [0, 0, 1, 1], probs)
    assert list(result) == sorted(["siteA", "图库乙", UNLISTED])
    assert result["siteA"]["count"] == 2 and result["siteA"]["accuracy"] == 1.0
    assert result["图库乙"]["accuracy"] == 0.0 and result["图库乙"]["per_class"] == {"猫": {"count": 1, "accuracy": 0.0}}
    assert result[UNLISTED]["count"] == 1
    assert per_source(EvalSet(tmp_path, ["猫", "狗"], chosen.rows, "all"), files, [0, 0, 1, 1], probs) == {}


def test_choosing_sources(tmp_path):
    chosen = _evalset(tmp_path)
    only = choose_sources(chosen, only="siteA")
    assert [r for r, _ in only.rows] == ["猫/a.jpg", "狗/c.jpg"] and only.filters == {"only": ["siteA"]}
    assert "kept 2 of 4" in only.notes[-1]
    rest = choose_sources(chosen, exclude=["siteA", "图库乙"])
    assert [r for r, _ in rest.rows] == ["狗/d.jpg"]
    assert choose_sources(chosen) is chosen
    with pytest.raises(DatasetError) as err:
        choose_sources(chosen, only="siteC")
    assert err.value.code == "unknown_source" and "siteA" in err.value.message and "图库乙" in err.value.message
    with pytest.raises(DatasetError) as err:
        choose_sources(EvalSet(tmp_path, ["猫"], chosen.rows, "all"), only="siteA")
    assert err.value.code == "no_sources"


def test_sources_csv_needs_its_columns(tmp_path):
    (tmp_path / "SOURCES.csv").write_text("class,path,site\n猫,猫/a.jpg,x\n", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        read_sources(tmp_path)
    assert err.value.code == "bad_sources" and "staged_path" in err.value.message
    (tmp_path / "SOURCES.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DatasetError) as err:
        read_sources(tmp_path)
    assert err.value.code == "bad_sources"
    (tmp_path / "SOURCES.csv").write_text("\ufeffclass,staged_path,source_repo\n猫,./猫/a.jpg,siteA\n", encoding="utf-8")
    assert read_sources(tmp_path) == {"猫/a.jpg": "siteA"}
    assert read_sources(tmp_path / "nowhere") == {}


# -- a folder of class folders, end to end -------------------------------------------------------


def _photo(path, cls, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(shapes(900_000 + seed, (80, 64), COLOUR[cls]), "JPEG", quality=90))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Other photos of the model's classes: two named sources, an unlisted file, broken files, an unknown class."""
    root = tmp_path_factory.mktemp("more") / "photos"
    listed = []
    for i in range(3):
        _photo(root / "猫" / f"a{i}.jpg", "猫", i)
        listed.append(("猫", f"猫/a{i}.jpg", "siteA"))
    (root / "猫" / "broken.jpg").write_bytes(truncated_jpeg())
    listed.append(("猫", "猫/broken.jpg", "siteA"))
    for i in range(2):
        _photo(root / "猫" / f"b{i}.jpg", "猫", 10 + i)
        listed.append(("猫", f"猫/b{i}.jpg", "图库乙"))
    for i in range(4):
        _photo(root / "狗" / f"b{i}.jpg", "狗", 20 + i)
        listed.append(("狗", f"狗/b{i}.jpg", "图库乙"))
    (root / "狗" / "page.jpg").write_bytes(html_page())
    listed.append(("狗", "狗/page.jpg", "图库乙"))
    _photo(root / "狗" / "extra.jpg", "狗", 30)  # not in SOURCES.csv
    (root / "牛").mkdir()  # an empty class folder
    for i in range(2):
        _photo(root / "马" / f"{i}.jpg", "猫", 40 + i)  # a class the model does not know
    (root / "README.md").write_text("# Other photos\n", encoding="utf-8")
    with (root / "SOURCES.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class", "staged_path", "source_repo", "license_if_stated"])
        writer.writerows([(c, p, s, "") for c, p, s in listed])
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("evalf") / "animals")
    with one_torch_thread():
        return train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny").model_path


def test_a_class_the_model_does_not_know_is_a_clear_error(model, photos):
    with pytest.raises(DatasetError) as err:
        evaluate(model, photos)
    assert err.value.code == "class_unknown"
    assert "马" in err.value.message and "--skip-unknown-classes" in err.value.message


def test_folder_evaluation_scores_every_readable_picture_of_known_classes(model, photos):
    test_part_report = report_files(model)["metrics"].read_bytes()
    with one_torch_thread():
        metrics = evaluate(model, photos, None, skip_unknown_classes=True)
    assert metrics["part"] == "all" and metrics["kind"] == "unknown" and metrics["count"] == 10
    assert {s["file"] for s in metrics["skipped"]} == {"猫/broken.jpg", "狗/page.jpg"}
    assert all(s["reason"] for s in metrics["skipped"])
    assert any("马" in n for n in metrics["notes"]) and any("牛 is empty" in n for n in metrics["notes"])
    assert metrics["per_class"]["猫"]["support"] == 5 and metrics["per_class"]["牛"]["support"] == 0
    assert set(metrics["per_source"]) == {"siteA", "图库乙", UNLISTED}
    assert metrics["per_source"]["siteA"]["count"] == 3 and metrics["per_source"][UNLISTED]["count"] == 1
    assert 0.0 <= metrics["ece"] <= 1.0
    assert len(metrics["reliability"]) == 15 and sum(b["count"] for b in metrics["reliability"]) == 10
    # The very answers prediction gives, picture by picture.
    predictor = Predictor.load(model)
    wrong = {m["file"] for m in metrics["misclassified"]}
    for rel in [f"猫/a{i}.jpg" for i in range(3)] + [f"狗/b{i}.jpg" for i in range(4)]:
        assert (predictor.predict(photos / rel)[0][0] != rel.split("/")[0]) == (rel in wrong)
    # Reports land under the folder's name, never over the test-part figures the model card reads.
    files = report_files(model, "photos")
    assert metrics["files"] == {k: str(v) for k, v in files.items()}
    saved = json.loads(files["metrics"].read_text(encoding="utf-8"))
    assert saved["ece"] == metrics["ece"] and saved["per_source"] == metrics["per_source"]
    assert files["reliability"].read_bytes()[:4] == b"\x89PNG"
    assert report_files(model)["metrics"].read_bytes() == test_part_report


def test_only_some_sources_as_an_out_of_source_test(model, photos, tmp_path):
    with one_torch_thread():
        metrics = evaluate(model, photos, only_sources="siteA", kind="out_of_source", skip_unknown_classes=True,
                           out_dir=tmp_path)
    assert metrics["count"] == 3 and [s["file"] for s in metrics["skipped"]] == ["猫/broken.jpg"]
    assert metrics["sources"] == {"only": ["siteA"]} and list(metrics["per_source"]) == ["siteA"]
    assert (tmp_path / "tiny.photos.out_of_source.metrics.json").is_file()
    assert (tmp_path / "tiny.photos.out_of_source.reliability.png").is_file()
    with one_torch_thread():
        rest = evaluate(model, photos, exclude_sources=["siteA"], skip_unknown_classes=True, tag="rest", out_dir=tmp_path)
    assert rest["count"] == 7 and set(rest["per_source"]) == {"图库乙", UNLISTED}
    assert (tmp_path / "tiny.rest.metrics.json").is_file()


def test_the_unknown_rate_on_photos_of_known_classes(model, photos, tmp_path):
    """Photos of the model's own classes flagged "none of these": the open-set check's false alarms."""
    rates = {}
    for name, open_set in (("always", ALWAYS_UNKNOWN), ("never", NEVER_UNKNOWN), ("without", None)):
        path = with_meta(model, tmp_path / f"{name}.pt", **({"open_set": open_set} if open_set else {}))
        with one_torch_thread():
            metrics = evaluate(path, photos, skip_unknown_classes=True, backend="torch", out_dir=tmp_path)
        rates[name] = metrics["unknown"]
        if open_set:
            assert {s["unknown_rate"] for s in metrics["per_source"].values()} == {rates[name]["rate"]}
    assert rates["always"] == {"available": True, "method": "msp", "flagged": 10, "rate": 1.0}
    assert rates["never"]["flagged"] == 0 and rates["without"] == {"available": False}


def test_nothing_to_evaluate_and_bad_options_are_explained(model, tmp_path):
    (tmp_path / "empty" / "猫").mkdir(parents=True)
    (tmp_path / "empty" / "README.md").write_text("nothing here", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        evaluate(model, tmp_path / "empty")
    assert err.value.code == "nothing_to_evaluate"
    with pytest.raises(DatasetError) as err:
        class_folders(tmp_path / "missing", ["猫", "狗"])
    assert err.value.code == "dataset_not_found"
    with pytest.raises(MLError) as err:
        evaluate(model, tmp_path / "empty", kind="sideways")
    assert err.value.code == "bad_config"
    with pytest.raises(MLError) as err:
        evaluate(model, tmp_path / "empty", part="holdout")
    assert err.value.code == "bad_config"
    with pytest.raises(DatasetError) as err:
        evaluate(model, tmp_path / "empty", part="test")
    assert err.value.code == "not_split"


def test_split_dataset_evaluation_also_reports_calibration(model, tmp_path):
    root = split_dataset(tmp_path / "animals")
    with one_torch_thread():
        metrics = evaluate(model, root, out_dir=tmp_path / "out")
        every = evaluate(model, root, "all", out_dir=tmp_path / "out")
    assert metrics["part"] == "test" and metrics["count"] == 12 and "ece" in metrics and metrics["per_source"] == {}
    assert (tmp_path / "out" / "tiny.metrics.json").is_file() and (tmp_path / "out" / "tiny.reliability.png").is_file()
    assert every["count"] == 48 and (tmp_path / "out" / "tiny.animals.metrics.json").is_file()


def test_flask_evaluate_on_a_folder(runner, model, photos, tmp_path):
    result = runner.invoke(args=["evaluate", str(model), str(photos), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "马" in result.output
    result = runner.invoke(args=["evaluate", str(model), str(photos), "--skip-unknown-classes", "--out", str(tmp_path),
                                 "--only-sources", "siteA,图库乙", "--kind", "out_of_source", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "photos (out-of-source): accuracy" in out and "over 9 pictures" in out
    assert "calibration: expected calibration error" in out and "(15 bins)" in out
    assert "图库乙" in out and "siteA" in out and "ECE" in out
    assert "note: skipped class folder(s) the model does not know: 马" in out
    assert "skipped: 猫/broken.jpg" in out
    assert "photos of known classes flagged as none of them" in out  # training now fits the check
    assert "reliability diagram:" in out and (tmp_path / "tiny.photos.out_of_source.reliability.png").is_file()
    result = runner.invoke(args=["evaluate", str(model), str(photos), "--skip-unknown-classes", "--only-sources", "nowhere"])
    assert result.exit_code == 1 and "Unknown source(s) nowhere" in result.output
