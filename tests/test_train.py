"""Training: it learns, it is reproducible, it resumes, it stops when asked, it explains bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ml.artifact import load_artifact
from ml.errors import Cancelled, DatasetError, MLError
from ml.evaluate import report_paths
from ml.training import TrainConfig, resolve_config, train
from ml.training.data import holdout
from tests.modelgen import one_torch_thread, split_dataset, tiny_config, train_tiny


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return split_dataset(tmp_path_factory.mktemp("train") / "animals")


@pytest.fixture(scope="module")
def linear_run(dataset, tmp_path_factory):
    return train_tiny(dataset, tmp_path_factory.mktemp("models"), name="tiny")


def test_linear_probe_learns_and_writes_a_complete_model_file(linear_run, dataset):
    assert linear_run.metrics["accuracy"] >= 0.9
    assert linear_run.metrics["part"] == "test"
    meta, state = load_artifact(linear_run.model_path)
    assert linear_run.model_path.name == "tiny.pt"
    assert meta["classes"] == ["牛", "狗", "猫"]
    assert meta["arch"] == "efficientnet_lite0" and meta["input_size"] == 64
    assert meta["metrics"]["accuracy"] == linear_run.metrics["accuracy"]
    assert len(meta["dataset"]["fingerprint"]) > 8
    assert {"torch", "timm", "python"} <= set(meta["versions"])
    assert TrainConfig(**meta["train_config"]) == resolve_config(tiny_config(name="tiny"))
    # From scratch, the normalisation is the dataset's own, not ImageNet's.
    assert meta["mean"] != [0.5, 0.5, 0.5]
    assert state["classifier.weight"].shape == (3, 1280)
    metrics_path, png = report_paths(linear_run.model_path)
    assert json.loads(metrics_path.read_text(encoding="utf-8"))["accuracy"] == linear_run.metrics["accuracy"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_run_folder_keeps_only_its_tensorboard_logs(linear_run):
    run = linear_run.run_dir
    # No decoded pixels, no checkpoints: the model file holds the best epoch, nothing is left to resume.
    assert not (run / "cache").exists() and not (run / "best.pt").exists() and not (run / "last.pt").exists()
    events = list(run.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in events)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    assert {"train/loss", "train/accuracy", "train/lr", "val/accuracy", "val/loss"} <= set(acc.Tags()["scalars"])
    assert acc.Tags()["images"] == ["confusion/test"]
    assert len(acc.Scalars("train/loss")) == len(linear_run.history)


def test_same_seed_same_model(linear_run, dataset, tmp_path):
    again = train_tiny(dataset, tmp_path, name="tiny")  # same settings as the fixture's run
    _, a = load_artifact(linear_run.model_path)
    _, b = load_artifact(again.model_path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finetune_learns_with_warmup(dataset, tmp_path):
    result = train_tiny(dataset, tmp_path, arch="resnet18", mode="finetune", epochs=3, warmup_epochs=1,
                        image_size=32, batch_size=4, backbone_lr_factor=1.0, optimizer="adam", augment=False)
    assert result.metrics["accuracy"] >= 0.9
    assert [h["epoch"] for h in result.history] == [1, 2, 3]


def test_finetune_with_augmentation_and_options_runs(dataset, tmp_path):
    result = train_tiny(dataset, tmp_path, arch="efficientnet_lite0", pretrained="imagenet", mode="finetune",
                        epochs=2, image_size=32, patience=1, schedule="step", step_epochs=1,
                        class_weights="balanced", label_smoothing=0.1)
    meta = load_artifact(result.model_path)[0]
    assert meta["train_config"]["augment"] is True and meta["train_config"]["schedule"] == "step"
    assert meta["mean"] == [0.5, 0.5, 0.5]  # the pretrained weights' own normalisation
    assert result.history[1]["lr"] == pytest.approx(result.history[0]["lr"] * 0.1)


def test_cancel_stops_within_one_step_and_resume_continues(dataset, tmp_path):
    steps = []

    def progress(p):
        if p.stage == "train" and p.done > (steps[-1] if steps else 0):
            steps.append(p.done)

    def stop():  # asked once the 11th step (2nd of epoch 2) has been reported: nothing more may run
        return len(steps) >= 11

    run_dir = tmp_path / "run"
    config = tiny_config(epochs=3)
    with pytest.raises(Cancelled):
        train(dataset, tmp_path / "out", config, on_progress=progress, should_stop=stop, run_dir=run_dir)
    assert steps == list(range(1, 12))
    last = torch.load(run_dir / "last.pt", weights_only=True)
    per_epoch = 9  # 36 training pictures less a 10% hold-out = 33, doubled by mirroring, batches of 8
    assert last["epoch"] == 0 and last["step"] == per_epoch
    assert not (run_dir / "cache").exists()  # a cancelled run deletes its decoded pixels too

    resumed_steps, decoded = [], []

    def resumed_progress(p):
        if p.stage == "train":
            resumed_steps.append(p.done)
        elif p.stage == "cache" and p.done:
            decoded.append(p.info["part"])

    resumed = train(dataset, tmp_path / "out", tiny_config(epochs=3, resume=True), run_dir=run_dir,
                    on_progress=resumed_progress)
    assert resumed_steps[0] == per_epoch + 1
    assert {"train", "test"} <= set(decoded)  # the resumed run decoded its pictures again
    assert not (run_dir / "cache").exists() and not (run_dir / "last.pt").exists()  # gone once it has ended
    straight = train(dataset, tmp_path / "straight", config, run_dir=tmp_path / "run2")
    assert resumed.history == straight.history
    _, a = load_artifact(resumed.model_path)
    _, b = load_artifact(straight.model_path)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_resume_errors(dataset, tmp_path):
    with pytest.raises(MLError) as err:
        train(dataset, tmp_path, tiny_config(resume=True), run_dir=tmp_path / "empty")
    assert err.value.code == "nothing_to_resume"
    epochs = []
    with pytest.raises(Cancelled):  # stopped in its second epoch: last.pt holds the first
        train(dataset, tmp_path, tiny_config(epochs=2), run_dir=tmp_path / "r", should_stop=lambda: len(epochs) > 0,
              on_progress=lambda p: p.stage == "train" and "val_accuracy" in p.info and epochs.append(p))
    with pytest.raises(MLError) as err:
        train(dataset, tmp_path, tiny_config(epochs=2, lr=0.5, resume=True), run_dir=tmp_path / "r")
    assert err.value.code == "resume_mismatch" and "lr" in err.value.message
    train(dataset, tmp_path, tiny_config(epochs=2, resume=True), run_dir=tmp_path / "r")
    with pytest.raises(MLError) as err:  # a finished run kept no checkpoint to go on from
        train(dataset, tmp_path, tiny_config(epochs=3, resume=True), run_dir=tmp_path / "r")
    assert err.value.code == "nothing_to_resume"


def test_a_failed_run_deletes_its_decoded_pixels(dataset, tmp_path):
    cached = []

    def progress(p):
        if p.stage == "cache":
            cached.extend((tmp_path / "run" / "cache").glob("*.npy"))
        if p.stage == "train":
            raise RuntimeError("disk full")  # any failure once training has started

    with pytest.raises(RuntimeError, match="disk full"):
        train(dataset, tmp_path / "out", tiny_config(epochs=1), on_progress=progress, run_dir=tmp_path / "run")
    assert cached  # the cache was there while the run went on
    assert not (tmp_path / "run" / "cache").exists()
    assert not list((tmp_path / "out").glob("*.pt"))


def test_an_interrupted_finetune_keeps_best_pt_until_the_run_finishes(dataset, tmp_path):
    """Fine-tuning writes best.pt at each new best epoch (a usable model mid-run); the finished run removes it."""
    epochs = []
    config = dict(arch="resnet18", mode="finetune", image_size=32, batch_size=4, augment=False, epochs=2)
    with pytest.raises(Cancelled):
        train(dataset, tmp_path / "out", tiny_config(**config), run_dir=tmp_path / "run",
              should_stop=lambda: len(epochs) > 0,
              on_progress=lambda p: p.stage == "train" and "val_accuracy" in p.info and epochs.append(p))
    best, _ = load_artifact(tmp_path / "run" / "best.pt")
    assert best["best_epoch"] == 1 and best["classes"] == ["牛", "狗", "猫"]
    train(dataset, tmp_path / "out", tiny_config(**config, resume=True), run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "best.pt").exists() and not (tmp_path / "run" / "last.pt").exists()


def test_dataset_not_split(tmp_path):
    (tmp_path / "ds" / "cat").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        train(tmp_path / "ds", tmp_path / "out", tiny_config())
    assert err.value.code == "not_split"


def test_class_folder_missing_on_disk(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shutil.rmtree(copy / "狗")
    with pytest.raises(DatasetError) as err:
        train(copy, tmp_path / "out", tiny_config())
    assert err.value.code == "class_missing" and "狗" in err.value.message


def test_unreadable_training_files_are_skipped_and_recorded(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    first = (copy / "train.txt").read_text(encoding="utf-8").splitlines()[0].split("\t")[0]
    (copy / first).write_bytes(b"not a picture")
    result = train_tiny(copy, tmp_path / "out", epochs=1)
    skipped = load_artifact(result.model_path)[0]["dataset"]["skipped"]
    assert [s["file"] for s in skipped] == [first]


@pytest.mark.parametrize(
    "settings",
    [{"mode": "sideways"}, {"arch": "vgg99"}, {"epochs": 0}, {"lr": -1.0}, {"image_size": 8},
     {"pretrained": "maybe"}, {"display_names": {"zh": ["猫"]}}],
)
def test_bad_settings_are_refused(dataset, tmp_path, settings):
    with pytest.raises(MLError) as err:
        train(dataset, tmp_path, tiny_config(**settings))
    assert err.value.code in ("bad_config", "unknown_arch")


def test_config_round_trips_through_json():
    cfg = TrainConfig(arch="efficientnet_lite0", display_names={"en": ["a", "b"]})
    assert TrainConfig(**json.loads(json.dumps(cfg.__dict__))) == cfg
    assert resolve_config(TrainConfig()).epochs == 4  # the default mode, last_stages
    assert resolve_config(TrainConfig(mode="linear")).epochs == 30 and resolve_config(TrainConfig(mode="finetune")).epochs == 8
    assert resolve_config(TrainConfig()).label_smoothing == 0.1 and resolve_config(TrainConfig(mode="linear")).label_smoothing == 0.0
    with pytest.raises(MLError):
        TrainConfig.from_dict({"arch": "resnet18", "colour": "blue"})


def test_holdout_is_stratified_and_seeded():
    rows = [(f"{c}/{i}.jpg", c) for c in range(3) for i in range(10)]
    keep, held = holdout(rows, 0.2, seed=1)
    assert sorted(keep + held) == sorted(rows)
    assert [sum(1 for _, c in held if c == k) for k in range(3)] == [2, 2, 2]
    assert holdout(rows, 0.2, seed=1) == (keep, held) != holdout(rows, 0.2, seed=2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield


def test_importing_the_training_package_loads_no_torch():
    """`ml.training` names its parts lazily: a torch-free caller (a config, a form) may import it."""
    import subprocess
    import sys

    code = ("import sys, ml.training; assert 'torch' not in sys.modules, 'torch loaded'; "
            "assert sorted(ml.training.__all__) == ['TrainConfig', 'TrainResult', 'resolve_config', 'train']; "
            "ml.training.train; assert 'torch' in sys.modules")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
