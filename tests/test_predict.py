"""Prediction: one load per process, same answers from torch and ONNX, clear refusals."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from ml.artifact import FORMAT, load_artifact, save_artifact
from ml.export import export_onnx
from ml.images import ImageError
from ml.predict import ModelError, Predictor, onnx_paths
from tests.modelgen import one_torch_thread, split_dataset, train_tiny

NAMES = {"en": ["cow", "dog", "cat"], "zh": ["牛", "狗", "猫"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = split_dataset(tmp_path_factory.mktemp("predict") / "animals")
    result = train_tiny(root, tmp_path_factory.mktemp("models"), name="tiny", display_names=NAMES)
    return root, result.model_path


@pytest.fixture
def model_copy(trained, tmp_path):
    """A private copy of the trained model file (tests below add exports beside it)."""
    path = tmp_path / "copy.pt"
    path.write_bytes(trained[1].read_bytes())
    return path


def _picture(root: Path, cls: str) -> Path:
    return sorted((root / cls).glob("*.jpg"))[0]


def test_predict_top_k_from_every_kind_of_input(trained):
    root, model = trained
    predictor = Predictor.load(model, backend="torch")
    assert predictor.backend == "torch" and predictor.classes == ["牛", "狗", "猫"]
    path = _picture(root, "猫")
    top = predictor.predict(path)
    assert len(top) == 3 and top[0][0] == "猫"
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-6)
    data = path.read_bytes()
    for source in (data, str(path), io.BytesIO(data), Image.open(path)):
        again = predictor.predict(source, k=2)
        assert [c for c, _ in again] == [c for c, _ in top[:2]]
        assert again[0][1] == pytest.approx(top[0][1], abs=1e-6)


def test_predict_many_matches_predict(trained):
    root, model = trained
    predictor = Predictor.load(model, backend="torch")
    pictures = [_picture(root, c) for c in ("牛", "狗", "猫")] * 3
    many = predictor.predict_many(pictures, k=1, batch_size=4)
    assert [m[0][0] for m in many] == ["牛", "狗", "猫"] * 3
    single = predictor.predict(pictures[1], k=1)
    assert many[1][0][1] == pytest.approx(single[0][1], abs=1e-5)
    assert predictor.predict_many([]) == []


def test_info_and_display_labels(trained):
    predictor = Predictor.load(trained[1], backend="torch")
    info = predictor.info
    assert info["name"] == "tiny" and info["backend"] == "torch" and info["arch"] == "efficientnet_lite0"
    assert info["classes"] == ["牛", "狗", "猫"] and info["input_size"] == 64
    assert set(info["normalisation"]) == {"mean", "std"} and "accuracy" in info["metrics"]
    assert info["dataset"]["fingerprint"] and info["versions"]["torch"] and info["created"]
    assert predictor.display_label("猫", "en") == "cat"
    assert predictor.display_label("猫", "zh") == "猫"
    assert predictor.display_label("猫", "fr") == "猫"


def test_load_is_cached_once_per_process(trained):
    a = Predictor.load(trained[1], backend="torch")
    assert Predictor.load(str(trained[1]), backend="torch") is a


def test_the_one_cache_follows_the_model_its_export_and_its_metadata(model_copy):
    """Keyed on time and size of the .pt, .onnx and .json: a change to any of them loads the model again."""
    first = Predictor.load(model_copy)
    assert first.backend == "torch" and Predictor.load(model_copy) is first
    export_onnx(model_copy)  # exported after the first load: the next load serves the export
    exported = Predictor.load(model_copy)
    assert exported is not first and exported.backend == "onnx" and Predictor.load(model_copy) is exported
    _, sidecar = onnx_paths(model_copy)
    before = sidecar.stat()
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    sidecar.write_text(json.dumps(meta | {"created": "replaced in place"}), encoding="utf-8")
    os.utime(sidecar, ns=(before.st_atime_ns, before.st_mtime_ns))  # same time: the size gives it away
    replaced = Predictor.load(model_copy)
    assert replaced is not exported and replaced.info["created"] == "replaced in place"
    assert Predictor.load(model_copy) is replaced
    # Only the newest copy is kept per model and settings: a long-running server does not pile them up.
    assert len([k for k in Predictor._cache if k[:2] == (str(model_copy.resolve()), "auto")]) == 1


def test_thread_safe(trained):
    root, model = trained
    predictor = Predictor.load(model, backend="torch")
    pictures = [_picture(root, c) for c in ("牛", "狗", "猫")]
    expected = [predictor.predict(p) for p in pictures]
    results, errors = [], []

    def work(i):
        try:
            results.append((i % 3, predictor.predict(pictures[i % 3])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    for i, got in results:
        assert [c for c, _ in got] == [c for c, _ in expected[i]]
        assert got[0][1] == pytest.approx(expected[i][0][1], abs=1e-5)


def test_onnx_backend_agrees_with_torch(trained, model_copy):
    root, _ = trained
    export_onnx(model_copy)
    onnx = Predictor.load(model_copy)
    eager = Predictor.load(model_copy, backend="torch")
    assert onnx.backend == "onnx" and onnx.info["backend"] == "onnx"
    assert onnx.info["display_names"] == NAMES and onnx.classes == eager.classes
    for cls in ("牛", "狗", "猫"):
        a, b = onnx.predict(_picture(root, cls)), eager.predict(_picture(root, cls))
        assert [c for c, _ in a] == [c for c, _ in b]
        assert max(abs(p - q) for (_, p), (_, q) in zip(a, b)) < 1e-4


def test_stale_onnx_is_ignored_after_retraining(trained, model_copy):
    export_onnx(model_copy)
    meta, state = load_artifact(model_copy)
    save_artifact(model_copy, state, meta | {"created": "later"})  # same name, new file
    assert Predictor.load(model_copy).backend == "torch"


def test_onnx_backend_needs_no_torch(trained, model_copy):
    root, _ = trained
    export_onnx(model_copy)
    model_copy.unlink()  # a desktop install ships only the .onnx and .json pair
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from ml.predict import Predictor\n"
        f"p = Predictor.load({str(model_copy)!r})\n"
        f"print(p.backend, p.predict({str(_picture(root, '狗'))!r})[0][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnx", "狗"]


def test_onnx_backend_asked_for_but_not_exported(model_copy):
    with pytest.raises(ModelError) as err:
        Predictor.load(model_copy, backend="onnx")
    assert err.value.code == "model_missing" and "export-onnx" in err.value.message


def test_missing_model(tmp_path):
    with pytest.raises(ModelError) as err:
        Predictor.load(tmp_path / "nothing.pt")
    assert err.value.code == "model_missing"


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04 truncated zip"])
def test_corrupt_model_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        Predictor.load(path, backend="torch")
    assert err.value.code == "model_corrupt"


def test_truncated_model_file(model_copy):
    data = model_copy.read_bytes()
    model_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        Predictor.load(model_copy, backend="torch")
    assert err.value.code == "model_corrupt"


class _Payload:
    """Unpickling this would create a file: proof that loading ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickled_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": 1, "meta": {"note": _Payload(str(marker))}, "state_dict": {}}, path)
    with pytest.raises(ModelError) as err:
        Predictor.load(path, backend="torch")
    assert err.value.code == "model_corrupt" and "pickled" in err.value.message
    assert not marker.exists()


def test_incompatible_model_files(tmp_path, trained):
    bare = tmp_path / "resnet18_e_best.pth"
    from torchvision.models import resnet18

    torch.save(resnet18(num_classes=5).state_dict(), bare)
    with pytest.raises(ModelError) as err:
        Predictor.load(bare, backend="torch")
    assert err.value.code == "model_incompatible" and "class names" in err.value.message

    meta, state = load_artifact(trained[1])
    newer = tmp_path / "newer.pt"
    torch.save({"format": FORMAT, "format_version": 99, "meta": meta, "state_dict": state}, newer)
    with pytest.raises(ModelError) as err:
        Predictor.load(newer, backend="torch")
    assert err.value.code == "model_incompatible" and "newer" in err.value.message

    other_arch = tmp_path / "other.pt"
    save_artifact(other_arch, state, meta | {"arch": "resnet18"})
    with pytest.raises(ModelError) as err:
        Predictor.load(other_arch, backend="torch")
    assert err.value.code == "model_incompatible"


def test_unreadable_image(trained):
    predictor = Predictor.load(trained[1], backend="torch")
    with pytest.raises(ImageError):
        predictor.predict(b"<html>not a picture</html>")


def test_unknown_backend(trained):
    with pytest.raises(Exception) as err:
        Predictor.load(trained[1], backend="gpu")
    assert getattr(err.value, "code", "") == "bad_backend"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield


def test_onnx_threads_cap_is_applied_and_cached_separately(tmp_path):
    """A server passes threads=1: the session uses one intra-op thread and answers the same."""
    from ml.export import export_onnx
    from tests import modelgen

    root = modelgen.split_dataset(tmp_path / "ds")
    model = modelgen.train_tiny(root, tmp_path / "models", epochs=1).model_path
    export_onnx(model)
    Predictor.clear_cache()
    default = Predictor.load(model, backend="onnx")
    single = Predictor.load(model, backend="onnx", threads=1)
    assert single is not default and single is Predictor.load(model, backend="onnx", threads=1)
    assert single._runner.session.get_session_options().intra_op_num_threads == 1
    assert default._runner.threads is None
    picture = (root / "猫").iterdir().__next__()
    assert single.predict(picture) == default.predict(picture)
