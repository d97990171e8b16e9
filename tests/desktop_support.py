"""Shared setup for the desktop tests: real Qt offscreen, a tiny trained model, a window per test.

Importing this module sets `QT_QPA_PLATFORM=offscreen` before any QApplication exists, so the
tests run without a display. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests import imagegen  # noqa: E402

#: Two classes, one with a Chinese name: class names must travel with the model file.
CLASSES = {"猫": 12, "dog": 12}
#: How the model file names each class per language (given to training, travels in the file).
DISPLAY = {"en": {"猫": "cat", "dog": "dog"}, "zh": {"猫": "猫", "dog": "狗"}}


def train_tiny_model(out_dir: Path) -> Path:
    """Train the smallest model the pipeline allows on a synthetic two-class dataset."""
    from ml.dataset import read_split, split
    from ml.training import TrainConfig, train

    root = imagegen.make_dataset(out_dir / "dataset", CLASSES, coloured=True)
    split(root, test=0.2, seed=0)
    classes, _ = read_split(root, "train")
    config = TrainConfig(
        arch="resnet18", pretrained="none", mode="finetune", epochs=1, batch_size=8, image_size=32,
        display_names={lang: [names[c] for c in classes] for lang, names in DISPLAY.items()}, name="tiny",
    )
    return Path(train(root, out_dir / "model", config).model_path)


@pytest.fixture(scope="session")
def desktop_model(tmp_path_factory) -> Path:
    """A real model file (.pt) trained for one epoch on tiny pictures; torch backend."""
    return train_tiny_model(tmp_path_factory.mktemp("desktop_model"))


@pytest.fixture(scope="session")
def desktop_onnx_model(desktop_model, tmp_path_factory) -> Path:
    """The same model with its ONNX export beside it, so `Predictor.load` picks onnxruntime."""
    from ml.export import export_onnx

    folder = tmp_path_factory.mktemp("desktop_onnx")
    pt = folder / "tiny.pt"
    shutil.copy2(desktop_model, pt)
    export_onnx(pt)
    return pt


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    """A good picture per class colour, a truncated JPEG and an HTML page saved as .jpg."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    files = {}
    for i, colour in enumerate(imagegen.CLASS_COLOURS[:2]):
        files[f"good{i}"] = folder / f"good{i}.jpg"
        files[f"good{i}"].write_bytes(imagegen.encode(imagegen.shapes(500 + i, (120, 90), colour)))
    files["truncated"] = folder / "truncated.jpg"
    files["truncated"].write_bytes(imagegen.truncated_jpeg())
    files["html"] = folder / "page.jpg"
    files["html"].write_bytes(imagegen.html_page())
    return files


@pytest.fixture
def settings(tmp_path):
    """Settings in a fresh INI file: a test never reads or writes the person's own settings."""
    from desktop.settings import Settings

    return Settings.at(tmp_path / "settings.ini")


@pytest.fixture
def app_window(qtbot, settings):
    """A shown main window and its controller (English); closing it in teardown asks nothing."""
    from desktop.app import build

    window, controller = build(settings, "en")
    window.confirm_exit = lambda: True  # pytest-qt closes the window before fixture teardown
    qtbot.addWidget(window)
    window.show()
    yield window, controller
    controller.shutdown()


def load_model(qtbot, controller, path: Path) -> None:
    """Open `path` and wait until the controller has it."""
    with qtbot.waitSignal(controller.model_changed, timeout=60_000):
        controller.open_model(str(path))
    assert controller.predictor is not None


def wait_error_box(qtbot, window):
    """Wait for the non-blocking error dialog and return it."""
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=30_000)
    return window.error_box


def make_folder(root, good: int, *, corrupt: bool = True):
    """`good` pictures, plus (optionally) a truncated JPEG, an HTML page named .png, and a text file."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        colour = imagegen.CLASS_COLOURS[i % 2]
        (root / f"p{i:03d}.jpg").write_bytes(imagegen.encode(imagegen.shapes(900 + i, (80, 60), colour)))
    if corrupt:
        (root / "broken.jpg").write_bytes(imagegen.truncated_jpeg())
        (root / "page.png").write_bytes(imagegen.html_page())
    (root / "notes.txt").write_text("not a picture name, skipped")
    (root / ".hidden.jpg").write_bytes(b"skipped")
    return root


def run_batch(qtbot, window, controller, folder):
    """Choose `folder` through the batch page's button and wait for the batch to end; its message."""
    from PyQt5.QtCore import Qt

    window.ask_folder = lambda title, start: str(folder)
    with qtbot.waitSignal(controller.batch_done, timeout=60_000) as done:
        qtbot.mouseClick(window.batch.choose_button, Qt.LeftButton)
    return done.args[0]
