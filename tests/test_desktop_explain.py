""""Why?" in the desktop window (real Qt offscreen): the heat map made in a worker on demand, toggled, and the
plain "needs torch" answer of the ONNX-only install."""

from __future__ import annotations

import sys

import pytest

pytest.register_assert_rewrite("tests.desktop_support")

from PyQt5.QtCore import Qt  # noqa: E402

from tests.desktop_support import load_model, wait_error_box  # noqa: E402

pytest_plugins = ["tests.desktop_support"]


def _open_and_recognise(qtbot, controller, path) -> None:
    with qtbot.waitSignal(controller.result_ready, timeout=60_000):
        controller.open_image(str(path))


def _shown_size(window):
    size = window.single.image_view._pixmap.size()
    return size.width(), size.height()


def test_why_draws_the_heat_map_over_the_picture_and_back(qtbot, app_window, desktop_onnx_model, pictures):
    window, controller = app_window
    load_model(qtbot, controller, desktop_onnx_model)  # predicts with ONNX, explains with the .pt beside it
    _open_and_recognise(qtbot, controller, pictures["good0"])
    button = window.single.why_button
    assert button.isEnabled() and button.text() == "Why?" and controller.heatmap is None  # nothing made yet
    photo = _shown_size(window)
    assert photo == (120, 90)

    with qtbot.waitSignal(controller.heatmap_ready, timeout=60_000):
        qtbot.mouseClick(button, Qt.LeftButton)
    view = controller.heatmap
    assert view.name == controller.result.rows[0][1]  # it explains the answer shown
    assert (view.image.width(), view.image.height()) == (32, 32)  # the model's square view (32 px model)
    assert _shown_size(window) == (32, 32) and button.isChecked() and button.text() == "Show the photo"
    assert controller.result.rows[0][0] in window.statusBar().currentMessage()
    assert view.elapsed_ms > 0

    with qtbot.waitSignal(controller.heatmap_hidden, timeout=5_000):
        qtbot.mouseClick(button, Qt.LeftButton)
    assert _shown_size(window) == photo and not button.isChecked() and button.text() == "Why?"
    with qtbot.waitSignal(controller.heatmap_ready, timeout=5_000):
        qtbot.mouseClick(button, Qt.LeftButton)
    assert controller.heatmap is view  # the same one: shown again without computing it again

    _open_and_recognise(qtbot, controller, pictures["good1"])  # a new picture forgets the old heat map
    assert controller.heatmap is None and _shown_size(window) == photo
    assert not button.isChecked() and button.text() == "Why?"


def test_why_in_chinese(qtbot, app_window, desktop_onnx_model, pictures):
    window, controller = app_window
    load_model(qtbot, controller, desktop_onnx_model)
    _open_and_recognise(qtbot, controller, pictures["good0"])
    controller.set_language("zh")
    assert window.single.why_button.text() == "为什么？"
    with qtbot.waitSignal(controller.heatmap_ready, timeout=60_000):
        qtbot.mouseClick(window.single.why_button, Qt.LeftButton)
    assert window.single.why_button.text() == "显示原图"
    assert "红色和黄色" in window.statusBar().currentMessage()


def test_without_torch_the_button_says_it_needs_the_full_install(qtbot, settings, desktop_onnx_model, pictures,
                                                                 monkeypatch):
    from desktop.app import build
    from ml.explain import torch_available

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed: `import torch` fails
    assert not torch_available()
    window, controller = build(settings, "en")
    window.confirm_exit = lambda: True
    qtbot.addWidget(window)
    window.show()
    try:
        load_model(qtbot, controller, desktop_onnx_model)
        assert controller.predictor.backend == "onnx"
        _open_and_recognise(qtbot, controller, pictures["good0"])  # recognising works without torch
        button = window.single.why_button
        assert button.text() == "Why? (needs torch)" and "requirements.txt" in button.toolTip()
        qtbot.mouseClick(button, Qt.LeftButton)
        box = wait_error_box(qtbot, window)
        assert box.windowTitle() == "Cannot explain this answer"
        assert "full install with torch" in box.text() and "requirements.txt" in box.text()
        assert controller.heatmap is None and not button.isChecked()
        box.close()
        controller.set_language("zh")
        assert button.text() == "为什么？（需要 torch）" and "torch" in button.toolTip()
    finally:
        controller.shutdown()


def test_a_model_without_its_pt_file_says_so(qtbot, app_window, desktop_onnx_model, pictures, tmp_path):
    import shutil

    window, controller = app_window
    for suffix in (".onnx", ".json"):
        shutil.copy2(desktop_onnx_model.with_suffix(suffix), tmp_path / f"alone{suffix}")
    load_model(qtbot, controller, tmp_path / "alone.onnx")
    _open_and_recognise(qtbot, controller, pictures["good0"])
    assert "needs torch" not in window.single.why_button.text()
    qtbot.mouseClick(window.single.why_button, Qt.LeftButton)
    assert ".pt file" in wait_error_box(qtbot, window).text()
