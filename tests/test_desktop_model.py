"""Which model the desktop client opens, the ONNX path without torch, and the README screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.register_assert_rewrite("tests.desktop_support")

from desktop import models  # noqa: E402
from desktop.__main__ import parse_args  # noqa: E402
from ml.places import Installation  # noqa: E402
from tests.desktop_support import DISPLAY  # noqa: E402

pytest_plugins = ["tests.desktop_support"]

REPO = Path(__file__).resolve().parent.parent


def touch(path: Path, age_s: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_model_lookup_order(tmp_path):
    shipped, instance = tmp_path / "models" / "default" / "animals5.pt", tmp_path / "instance" / "models"
    place = Installation({"ANIMALS_INSTANCE_PATH": str(tmp_path / "instance")})
    assert place.model_dir == instance  # the web app's default: models/ inside the instance folder
    assert models.find_model("", shipped, place) is None
    touch(instance / "3" / "a.pt", age_s=100)
    newer = touch(instance / "7" / "b.pt", age_s=50)
    assert models.find_model("", shipped, place) == newer  # newest model the web app trained
    touch(instance / "7" / "runs" / "b" / "last.pt")  # checkpoints of its run, written after the model
    touch(instance / "7" / "runs" / "b" / "best.pt")
    touch(instance / ".partial-9f3e" / "c.pt")  # a training job still writing
    assert models.find_model("", shipped, place) == newer  # neither is a model to open
    touch(shipped)
    assert models.find_model("", shipped, place) == shipped  # the shipped default comes first
    chosen = touch(tmp_path / "mine.pt")
    assert models.find_model(str(chosen), shipped, place) == chosen  # what the person opened last
    assert models.find_model(str(tmp_path / "gone.pt"), shipped, place) == shipped


def test_the_model_folder_is_found_by_the_web_apps_settings(tmp_path):
    """ANIMALS_MODEL_DIR, else MODEL_DIR in instance/config.py (relative: inside the instance), as `webapp.config`."""
    from webapp import create_app

    instance = tmp_path / "instance"
    (instance / "config.py").parent.mkdir(parents=True)
    (instance / "config.py").write_text('MODEL_DIR = "trained"\nSECRET_KEY = "x"\n')
    place = Installation({"ANIMALS_INSTANCE_PATH": str(instance)})
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True, "REDIS_URL": "redis://127.0.0.1:1"})
    assert place.model_dir == instance / "trained" == Path(app.config["MODEL_DIR"])
    trained = touch(instance / "trained" / "1" / "m.pt")
    assert models.find_model("", tmp_path / "no-shipped.pt", place) == trained
    elsewhere = tmp_path / "shared-models"
    place = Installation({"ANIMALS_INSTANCE_PATH": str(instance), "ANIMALS_MODEL_DIR": str(elsewhere)})
    assert place.model_dir == elsewhere
    assert models.find_model("", tmp_path / "no-shipped.pt", place) is None
    mine = touch(elsewhere / "2" / "n.pt")
    assert models.find_model("", tmp_path / "no-shipped.pt", place) == mine


def test_the_web_apps_active_model_comes_before_the_shipped_one(tmp_path, embedded_redis):
    """The model the site serves, read from its SQLite database (read-only), when the file is there."""
    from tests.conftest import make_app
    from webapp.extensions import db
    from webapp.registry import register_model

    app = make_app(tmp_path, redis=embedded_redis)
    served, other = touch(tmp_path / "served" / "s.pt", age_s=100), touch(tmp_path / "other" / "o.pt")
    with app.app_context():
        register_model(other, name="other", activate=True, arch="x", classes=["a"])
        register_model(served, name="served", activate=True, arch="x", classes=["a"])
        db.engine.dispose()
    shipped = touch(tmp_path / "shipped.pt")
    place = Installation({"ANIMALS_INSTANCE_PATH": str(tmp_path / "instance"),
                          "ANIMALS_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert place.sqlite_path is not None and place.sqlite_path.is_file()
    assert place.active_model() == served
    assert models.find_model("", shipped, place) == served
    mine = touch(tmp_path / "mine.pt")
    assert models.find_model(str(mine), shipped, place) == mine  # what the person opened last still wins
    served.unlink()  # the active row points at a file that is gone: fall back, never open nothing
    assert models.find_model("", shipped, place) == shipped
    postgres = Installation({"ANIMALS_INSTANCE_PATH": str(tmp_path / "instance"),
                             "DATABASE_URL": "postgresql://u@localhost/animals"})
    assert postgres.sqlite_path is None and postgres.active_model() is None
    broken = Installation({"ANIMALS_SQLALCHEMY_DATABASE_URI": f"sqlite:///{touch(tmp_path / 'not-a.db')}"})
    assert broken.active_model() is None  # not a database: no crash, the other places are looked at


def test_no_model_found_asks_for_one_and_remembers_it(qtbot, app_window, desktop_model, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_MODEL", tmp_path / "none.pt")
    monkeypatch.setenv("ANIMALS_INSTANCE_PATH", str(tmp_path / "no-instance"))
    for name in ("ANIMALS_MODEL_DIR", "ANIMALS_SQLALCHEMY_DATABASE_URI", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    window, controller = app_window
    asked = []
    window.ask_model = lambda start: asked.append(start) or str(desktop_model)
    with qtbot.waitSignal(controller.model_changed, timeout=60_000, check_params_cb=bool):
        controller.start()
    assert asked and controller.settings.model_path == str(desktop_model)
    assert "tiny" in window.single.result_panel.model_label.text()
    assert controller.predictor.classes == sorted(DISPLAY["en"])  # class names from the model file


def test_command_line_options():
    args = parse_args(["photo.jpg", "--model", "m.pt", "--lang", "zh"])
    assert (args.image, args.model, args.lang) == ("photo.jpg", "m.pt", "zh")
    with pytest.raises(SystemExit):
        parse_args(["--lang", "fr"])


NO_TORCH_RUN = r"""
import sys
sys.modules["torch"] = None  # as if torch were not installed: `import torch` raises ImportError
from desktop.screenshot import take_screenshot
result = take_screenshot(sys.argv[1], sys.argv[2], sys.argv[3], lang="zh")
print("MODEL", result.model)
print("TOP", result.rows[0][0], result.rows[0][2])
print("TORCH", sorted(m for m in sys.modules if m.startswith("torch") and sys.modules[m] is not None))
"""


def test_onnx_backend_runs_the_window_without_torch(desktop_onnx_model, tmp_path):
    out = tmp_path / "zh.png"
    picture = tmp_path / "cat.jpg"
    from tests import imagegen

    picture.write_bytes(imagegen.encode(imagegen.shapes(7, (120, 90), imagegen.CLASS_COLOURS[0])))
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {"QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [sys.executable, "-c", NO_TORCH_RUN, str(out), str(desktop_onnx_model), str(picture)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert "onnx" in lines["MODEL"] and lines["TORCH"] == "[]"
    assert lines["TOP"].split()[0] in DISPLAY["zh"].values()
    assert Image.open(out).size[0] >= 800


def test_screenshot_of_the_window_with_a_result(qapp, desktop_model, tmp_path):
    from desktop.screenshot import take_screenshot
    from tests import imagegen

    picture = tmp_path / "dog.jpg"
    picture.write_bytes(imagegen.encode(imagegen.shapes(8, (160, 120), imagegen.CLASS_COLOURS[1])))
    out = tmp_path / "img" / "desktop.png"
    result = take_screenshot(out, desktop_model, picture, size=(900, 560), colours=128)
    assert [name for _, name, _ in result.rows] and result.model.startswith("tiny")
    with Image.open(out) as shot:
        assert shot.size == (900, 560) and shot.mode == "P"  # palette PNG: small enough for the docs
        pixels = np.asarray(shot.convert("RGB").resize((90, 56))).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 50  # a drawn window with a picture, not a blank grab


def test_open_model_dialog_accepts_an_onnx_export(qtbot, app_window, desktop_onnx_model):
    window, controller = app_window
    window.ask_model = lambda start: str(desktop_onnx_model.with_suffix(".onnx"))
    with qtbot.waitSignal(controller.model_changed, timeout=60_000):
        window.model_action.trigger()
    assert controller.predictor.backend == "onnx" and "onnx" in window.single.result_panel.model_label.text()
    assert controller.settings.model_path.endswith("tiny.onnx")
