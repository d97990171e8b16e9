"""`flask train|evaluate|predict|export-onnx` end to end, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.modelgen import one_torch_thread, split_dataset

TINY = ["--arch", "efficientnet_lite0", "--pretrained", "none", "--epochs", "6", "--lr", "0.003",
        "--batch-size", "8", "--image-size", "64"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return split_dataset(tmp_path_factory.mktemp("cli") / "animals")


def _picture(root: Path, cls: str) -> str:
    return str(sorted((root / cls).glob("*.jpg"))[0])


def test_train_evaluate_export_predict(runner, app, dataset, tmp_path):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"en": {"猫": "cat", "狗": "dog", "牛": "cow"}}), encoding="utf-8")
    out = tmp_path / "models"
    result = runner.invoke(args=["train", str(dataset), *TINY, "--out", str(out), "--name", "tiny",
                                 "--display-names", str(names)])
    assert result.exit_code == 0, result.output
    model = out / "tiny.pt"
    assert model.exists()
    assert "accuracy" in result.output and "猫" in result.output
    run = Path(app.instance_path) / "runs" / "tiny"
    assert list(run.glob("events.out.tfevents.*")) and f"run (TensorBoard): {run}" in result.output
    assert not list(run.glob("*.pt")) and not (run / "cache").exists()  # a finished run keeps only its logs

    result = runner.invoke(args=["evaluate", str(model), str(dataset)])
    assert result.exit_code == 0, result.output
    assert "test: accuracy" in result.output and model.with_name("tiny.confusion.png").exists()

    result = runner.invoke(args=["export-onnx", str(model)])
    assert result.exit_code == 0, result.output
    assert "max probability difference" in result.output and model.with_suffix(".onnx").exists()

    for backend in ("onnx", "torch"):
        result = runner.invoke(args=["predict", str(model), _picture(dataset, "猫"), "--backend", backend])
        assert result.exit_code == 0, result.output
        line = [x for x in result.output.splitlines() if x.startswith(_picture(dataset, "猫"))][0]
        labels = line.split(": ", 1)[1].split(", ")
        assert len(labels) == 3 and labels[0].startswith("猫 ")
        assert backend in result.output

    result = runner.invoke(args=["predict", str(model), _picture(dataset, "狗"), "--lang", "en", "-k", "1"])
    assert result.exit_code == 0 and ": dog " in result.output

    page = tmp_path / "page.jpg"
    page.write_bytes(b"<!DOCTYPE html><html><body>404</body></html>")
    result = runner.invoke(args=["predict", str(model), _picture(dataset, "猫"), str(page)])
    assert result.exit_code == 1
    assert "page.jpg: error:" in result.output and "HTML" in result.output
    assert "1 of 2 picture(s) could not be read" in result.output
    assert _picture(dataset, "猫") + ": 猫 " in result.output  # the good picture still gets its answer


def test_train_a_dataset_that_is_not_split(runner, tmp_path):
    (tmp_path / "raw" / "cat").mkdir(parents=True)
    result = runner.invoke(args=["train", str(tmp_path / "raw"), *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "not split yet" in result.output and "Traceback" not in result.output


def test_train_with_a_class_missing_on_disk(runner, dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shutil.rmtree(copy / "牛")
    result = runner.invoke(args=["train", str(copy), *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 1 and "missing" in result.output and "牛" in result.output


def test_train_with_unknown_arch(runner, dataset, tmp_path):
    result = runner.invoke(args=["train", str(dataset), "--arch", "vgg99", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "'vgg99' is not one of" in result.output and "efficientnet_lite2" in result.output


def test_train_on_a_missing_gpu_says_so(runner, dataset, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(args=["train", str(dataset), *TINY, "--device", "cuda", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "CUDA was asked for" in result.output and "Traceback" not in result.output


def test_predict_with_corrupt_or_missing_model(runner, dataset, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    result = runner.invoke(args=["predict", str(bad), _picture(dataset, "猫")])
    assert result.exit_code == 1 and "not a readable model file" in result.output
    result = runner.invoke(args=["predict", str(tmp_path / "gone.pt"), _picture(dataset, "猫")])
    assert result.exit_code == 1 and "not found" in result.output
    result = runner.invoke(args=["evaluate", str(bad), str(dataset)])
    assert result.exit_code == 1 and "Traceback" not in result.output


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield


def test_predict_prints_the_unknown_flag(runner, tiny_model, tmp_path):
    from tests.imagegen import encode, shapes
    from tests.modelgen import ALWAYS_UNKNOWN, with_meta

    picture = tmp_path / "p.jpg"
    picture.write_bytes(encode(shapes(4, (80, 64))))
    checked = with_meta(tiny_model, tmp_path / "checked.pt", open_set=ALWAYS_UNKNOWN)
    result = runner.invoke(args=["predict", str(checked), str(picture), "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "unknown-photo check: msp" in result.output
    line = [x for x in result.output.splitlines() if x.startswith(str(picture))][0]
    top = float(line.split(": ", 1)[1].split(", ")[0].split()[1])
    score = float(line.rsplit("(score ", 1)[1].rstrip(")"))
    assert "; unknown: yes (score " in line and score == pytest.approx(-top, abs=2e-3)

    old = with_meta(tiny_model, tmp_path / "old.pt")
    result = runner.invoke(args=["predict", str(old), str(picture), "--backend", "torch"])
    assert result.exit_code == 0, result.output
    assert "unknown-photo check: not available" in result.output and line.split(";")[0] + "; unknown: n/a" in result.output
