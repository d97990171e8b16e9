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
    result = train_tiny(dataset, tmp_path, mode="last_stages", epochs=3, probe_epochs=5, name="top")
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
