"""Grad-CAM heat maps from a model file the test trains itself."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.modelgen import one_torch_thread, split_dataset, train_tiny

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    with one_torch_thread():
        result = train_tiny(split_dataset(root / "data"), root / "out", epochs=2)
    del result
    return next((root / "out").rglob("*.pt"))


def _picture() -> Image.Image:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    arr[16:48, 16:48] = (220, 40, 40)
    return Image.fromarray(arr)


def test_heatmap_shape_varies_and_png(model_file):
    from ml.explain import explain

    got = explain(model_file, _picture())
    assert got.heatmap.shape == (64, 64)
    assert float(got.heatmap.max() - got.heatmap.min()) > 0.1
    assert Image.open(io.BytesIO(got.png)).size == (64, 64)
    assert got.elapsed_ms > 0


def test_classes_differ(model_file):
    from ml.explain import explain

    a = explain(model_file, _picture(), class_index=0).heatmap
    b = explain(model_file, _picture(), class_index=1).heatmap
    assert not np.allclose(a, b)


def test_bad_class_index(model_file):
    from ml.errors import MLError
    from ml.explain import explain

    with pytest.raises(MLError, match="outside"):
        explain(model_file, _picture(), class_index=99)


def test_heat_maps_take_turns_on_the_shared_model(model_file):
    import threading

    from ml.explain import Busy, _run_lock, explain

    alone = [explain(model_file, _picture(), class_index=i).heatmap for i in (0, 1)]
    got: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, explain(model_file, _picture(), class_index=i).heatmap))
               for i in (0, 1) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.allclose(got[i], alone[i], atol=1e-5) for i in (0, 1))  # no hook or gradient shared between them
    with _run_lock, pytest.raises(Busy):
        explain(model_file, _picture(), wait_s=0.01)


def test_torch_available_without_importing_it():
    from ml.explain import torch_available

    assert torch_available() is True
