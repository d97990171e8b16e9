"""Last-stages fine-tuning: learns, keeps the frozen stages frozen, resumes, and the model file is whole."""

from __future__ import annotations

import pytest
import torch

from ml.artifact import load_artifact
from ml.errors import Cancelled, MLError
from ml.models import build_model, split_backbone
from ml.predict import Predictor
from ml.training import TrainConfig, resolve_config, train
from tests.modelgen import one_torch_thread, split_dataset, tiny_config, train_tiny


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return split_dataset(tmp_path_factory.mktemp("top") / "animals", val=0.2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet18"])
def test_split_backbone_is_the_same_network(arch):
    model = build_model(arch, 3, pretrained="none").eval()
    frozen, top = split_backbone(model, arch)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(top(frozen(x)), model(x), atol=1e-5)
    shared = {id(p) for p in frozen.parameters()} | {id(p) for p in top.parameters()}
    assert shared == {id(p) for p in model.parameters()}  # every weight in exactly one part, none copied


def test_last_stages_learns_and_leaves_the_first_stages_alone(dataset, tmp_path):
    result = train_tiny(dataset, tmp_path, mode="last_stages", epochs=5, probe_epochs=5, name="top")
    assert result.metrics["accuracy"] >= 0.9
    meta, state = load_artifact(result.model_path)
    assert meta["train_config"]["mode"] == "last_stages" and meta["train_config"]["label_smoothing"] == 0.1
    torch.manual_seed(0)
    fresh = build_model("efficientnet_lite0", 3, pretrained="none").state_dict()
    # The stem and the first five stages are the random start the run was given (same seed)...
    frozen_keys = [k for k in state if k.startswith(("conv_stem", "bn1", "blocks.0", "blocks.4"))]
    assert frozen_keys and all(torch.equal(state[k], fresh[k]) for k in frozen_keys)
    # ...while the last stages moved, and BatchNorm statistics stayed as they were.
    assert any(not torch.equal(state[k], fresh[k]) for k in state if k.startswith("blocks.6") and "weight" in k)
    assert all(torch.equal(state[k], fresh[k]) for k in state if k.startswith("blocks.6") and "running_mean" in k)
    assert meta["open_set"]["method"] == "knn" and meta["calibration"]["temperature"] >= 0.25
    answer = Predictor.load(result.model_path, backend="torch").classify(dataset / "猫" / "0000.jpg")
    assert answer.top_k[0][0] == "猫"


def test_last_stages_cancels_and_resumes_to_the_same_model(dataset, tmp_path):
    seen = []

    def progress(p):
        if p.stage == "train":
            seen.append(p.done)

    config = tiny_config(mode="last_stages", epochs=2, probe_epochs=2)
    with pytest.raises(Cancelled):
        train(dataset, tmp_path / "out", config, on_progress=progress, should_stop=lambda: len(seen) >= 5,
              run_dir=tmp_path / "run")
    resumed = train(dataset, tmp_path / "out", tiny_config(mode="last_stages", epochs=2, probe_epochs=2, resume=True),
                    run_dir=tmp_path / "run")
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert (tmp_path / "out" / f"{resumed.model_path.stem}.pt").exists()


def test_last_stages_needs_a_known_backbone_family(dataset, tmp_path):
    from ml.models import split_backbone

    with pytest.raises(MLError) as info:
        split_backbone(torch.nn.Linear(2, 2), "vgg11")
    assert info.value.code == "bad_config"
    assert resolve_config(TrainConfig(mode="last_stages")).epochs == 4


def test_wise_ft_averages_the_tuned_stages_with_the_start(dataset, tmp_path):
    tuned = train_tiny(dataset, tmp_path / "a", mode="last_stages", epochs=2, probe_epochs=2, wise_alpha=1.0, name="tuned")
    half = train_tiny(dataset, tmp_path / "b", mode="last_stages", epochs=2, probe_epochs=2, wise_alpha=0.5, name="half")
    tuned_meta, tuned_state = load_artifact(tuned.model_path)
    half_meta, half_state = load_artifact(half.model_path)
    assert tuned_meta["wise"] is None and tuned_meta["train_config"]["wise_alpha"] == 1.0
    assert half_meta["wise"]["alpha"] == 0.5 and 0.0 <= half_meta["wise"]["val_accuracy"] <= 1.0
    torch.manual_seed(0)
    fresh = build_model("efficientnet_lite0", 3, pretrained="none").state_dict()
    # A tuned stage's weights sit halfway between where the run started (the seeded random stages)
    # and where the same run ended without averaging; BatchNorm statistics are untouched.
    stage = [k for k in half_state if k.startswith("blocks.6") and k.endswith("weight")]
    assert stage and any(not torch.equal(tuned_state[k], fresh[k]) for k in stage)
    for k in stage:
        assert torch.allclose(half_state[k], 0.5 * tuned_state[k] + 0.5 * fresh[k], atol=1e-5), k
    assert all(torch.equal(half_state[k], fresh[k]) for k in half_state if "running_var" in k)
    # Alpha 0 is a real choice (the start itself), not "unset".
    start = train_tiny(dataset, tmp_path / "c", mode="last_stages", epochs=2, probe_epochs=2, wise_alpha=0.0, name="start")
    _, start_state = load_artifact(start.model_path)
    assert all(torch.allclose(start_state[k], fresh[k], atol=1e-6) for k in stage)
    # No averaging unless asked for: on the selection data it did not gain (docs/model.md).
    assert resolve_config(TrainConfig(mode="last_stages")).wise_alpha == 1.0
    assert resolve_config(TrainConfig(mode="last_stages", wise_alpha=0.5)).wise_alpha == 0.5


def test_last_stages_caches_two_random_crops_per_training_picture(dataset, tmp_path):
    from ml.transforms import random_resized_crop

    totals = []
    train(dataset, tmp_path / "out", tiny_config(mode="last_stages", epochs=1, probe_epochs=1, name="crops"),
          on_progress=lambda p: totals.append(p.total) if p.stage == "features" else None)
    meta, _ = load_artifact(tmp_path / "out" / "crops.pt")
    counts = meta["dataset"]["counts"]
    # Training pictures: centre, mirror and two crops; validation and test: the centre only.
    assert totals[-1] == 4 * counts["train"] + counts["val"] + counts["test"]
    rng = __import__("numpy").random.default_rng(0)
    square = __import__("numpy").zeros((40, 40, 3), "uint8")
    square[:20] = 255  # top half white: a crop keeps the orientation, so its top row is never darker than its bottom
    crop = random_resized_crop(square, rng)
    assert crop.shape == square.shape and crop.dtype == square.dtype and crop[0].mean() >= crop[-1].mean()


def test_a_run_interrupted_before_wise_alpha_existed_still_resumes(dataset, tmp_path):
    seen = []

    def progress(p):
        if p.stage == "train":
            seen.append(p.done)

    with pytest.raises(Cancelled):
        train(dataset, tmp_path / "out", tiny_config(mode="last_stages", epochs=2, probe_epochs=1),
              on_progress=progress, should_stop=lambda: len(seen) >= 7, run_dir=tmp_path / "run")
    last = tmp_path / "run" / "last.pt"
    state = torch.load(last, weights_only=True)
    del state["config"]["wise_alpha"], state["start_trainable"]  # as an older version wrote it
    torch.save(state, last)
    # Asking for averaging now is a changed setting, refused by name; the default matches the old run.
    with pytest.raises(MLError) as info:
        train(dataset, tmp_path / "out", tiny_config(mode="last_stages", epochs=2, probe_epochs=1, wise_alpha=0.5,
                                                      resume=True), run_dir=tmp_path / "run")
    assert info.value.code == "resume_mismatch" and "wise_alpha" in str(info.value)
    resumed = train(dataset, tmp_path / "out", tiny_config(mode="last_stages", epochs=2, probe_epochs=1, resume=True),
                    run_dir=tmp_path / "run")
    assert [h["epoch"] for h in resumed.history] == [1, 2]


def test_last_stages_keeps_its_feature_maps_in_files_of_the_run_cache(dataset, tmp_path):
    import numpy as np

    from ml.dataset import read_split
    from ml.training.data import cache_split
    from ml.training.last_stages import LastStages

    classes, rows = read_split(dataset, "train")
    split = cache_split(dataset, rows, 64, tmp_path / "cache", "train")
    model = build_model("efficientnet_lite0", len(classes), pretrained="none")
    strategy = LastStages(model, "efficientnet_lite0", (0.5,) * 3, (0.5,) * 3, 8, True, 0, cache_dir=tmp_path / "cache")
    strategy.prepare({"train": split}, None, None)
    files = sorted((tmp_path / "cache").glob("maps-*.npy"))
    assert len(files) == 4 == len(strategy.maps["train"])  # centre, mirror, two crops
    on_disk = np.load(files[0], mmap_mode="r")
    assert on_disk.dtype == np.float16 and len(on_disk) == len(split)
    assert np.array_equal(np.asarray(on_disk), strategy.maps["train"][0].numpy())  # the tensor reads the file
    in_memory = LastStages(build_model("efficientnet_lite0", len(classes), pretrained="none"), "efficientnet_lite0",
                           (0.5,) * 3, (0.5,) * 3, 8, False, 0)
    in_memory.prepare({"train": split}, None, None)
    assert len(in_memory.maps["train"]) == 1 and sorted((tmp_path / "cache").glob("maps-*.npy")) == files
