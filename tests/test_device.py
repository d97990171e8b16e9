"""Where training and evaluation run: auto picks what is there, a missing GPU is a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ml.artifact import load_artifact
from ml.device import CPU, pick_device
from ml.errors import MLError
from ml.evaluate import evaluate
from ml.training import TrainConfig, resolve_config
from tests.modelgen import one_torch_thread, split_dataset, train_tiny

ROOT = Path(__file__).resolve().parent.parent
HAS_CUDA = torch.cuda.is_available()
HAS_MPS = torch.backends.mps.is_available()


@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="this machine has an accelerator: auto picks it")
def test_auto_is_the_cpu_here_in_float32():
    device = pick_device("auto")
    assert device == CPU and device.amp is None
    assert device.label.startswith("cpu (") and device.label.endswith("float32")
    assert device.as_meta() == {"type": "cpu", "name": CPU.name, "amp": None}
    assert not device.grad_scaler().is_enabled()
    with device.autocast():  # a no-op on the CPU: matrix products stay float32
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_asking_for_cuda_without_one_is_a_clear_error():
    with pytest.raises(MLError) as err:
        pick_device("cuda")
    assert err.value.code == "device_unavailable"
    assert "CUDA" in err.value.message and "auto or cpu" in err.value.message
    with pytest.raises(MLError) as err:
        resolve_config(TrainConfig(device="cuda"))
    assert err.value.code == "device_unavailable"


@pytest.mark.skipif(HAS_MPS, reason="this machine has MPS")
def test_asking_for_mps_without_one_is_a_clear_error():
    with pytest.raises(MLError) as err:
        pick_device("mps")
    assert err.value.code == "device_unavailable" and "MPS" in err.value.message


def test_unknown_device_names_the_choices():
    with pytest.raises(MLError) as err:
        pick_device("tpu")
    assert err.value.code == "bad_config" and "auto, cpu, cuda, mps" in err.value.message
    with pytest.raises(MLError):
        resolve_config(TrainConfig(device="gpu"))


def test_resolved_config_names_a_real_device_and_the_arch_input_size():
    cfg = resolve_config(TrainConfig())
    assert cfg.device == pick_device("auto").type and cfg.image_size == 260  # the default arch is lite2
    assert resolve_config(TrainConfig(arch="efficientnet_lite0")).image_size == 224
    assert resolve_config(TrainConfig(arch="efficientnet_lite1")).image_size == 240
    assert resolve_config(TrainConfig(arch="efficientnet_lite2")).image_size == 260
    assert resolve_config(TrainConfig(arch="efficientnet_lite2", image_size=128)).image_size == 128
    assert resolve_config(TrainConfig(device="cpu")).device == "cpu"
    assert resolve_config(resolve_config(TrainConfig())) == resolve_config(TrainConfig())


def test_choices_import_without_torch():
    code = "import sys; import ml.choices; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("device") / "animals")
    with one_torch_thread():
        return root, train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny", epochs=3, device="cpu")


def test_the_model_file_records_where_it_was_trained(trained):
    _, result = trained
    meta = load_artifact(result.model_path)[0]
    assert meta["device"] == {"type": "cpu", "name": CPU.name, "amp": None}
    assert meta["train_config"]["device"] == "cpu" and meta["train_config"]["amp"] is True


def test_evaluation_runs_where_asked(trained, tmp_path):
    root, result = trained
    with one_torch_thread():
        metrics = evaluate(result.model_path, root, backend="torch", device="cpu", out_dir=tmp_path)
    assert metrics["device"] == "cpu" and metrics["backend"] == "torch"
    if not HAS_CUDA:
        with pytest.raises(MLError) as err:
            evaluate(result.model_path, root, device="cuda", out_dir=tmp_path)
        assert err.value.code == "device_unavailable"


def test_onnx_backend_runs_only_on_the_cpu(trained):
    from ml.predict import Predictor

    _, result = trained
    with pytest.raises(MLError) as err:
        Predictor.load(result.model_path, backend="onnx", device="cuda")
    assert err.value.code == "bad_backend" and "torch backend" in err.value.message


def test_the_mixed_precision_path_trains_both_modes(monkeypatch, tmp_path):
    """No GPU here: the same autocast code runs on the CPU in bfloat16, as it would on CUDA."""
    import ml.training.run
    from ml.device import Device

    bf16 = Device("cpu", "bfloat16 autocast on the CPU", "bfloat16")
    with bf16.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    monkeypatch.setattr(ml.training.run, "pick_device", lambda device, amp=True: bf16)
    root = split_dataset(tmp_path / "animals")
    with one_torch_thread():
        linear = train_tiny(root, tmp_path / "models", name="bf16-linear")
        finetune = train_tiny(root, tmp_path / "models", name="bf16-finetune", mode="finetune", epochs=1)
    assert linear.metrics["accuracy"] >= 0.9
    assert 0.0 <= finetune.metrics["accuracy"] <= 1.0 and len(finetune.history) == 1
    for result in (linear, finetune):
        assert load_artifact(result.model_path)[0]["device"]["amp"] == "bfloat16"
