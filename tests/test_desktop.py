"""The desktop window with real Qt (offscreen) and a real tiny model: open, recognise, errors, exit."""

from __future__ import annotations

import pytest
from PyQt5.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PyQt5.QtGui import QDropEvent, QImage
from PyQt5.QtWidgets import QApplication, QMessageBox

pytest.register_assert_rewrite("tests.desktop_support")

from desktop.app import build, pick_language  # noqa: E402
from desktop.i18n import error_text, language_for_locale, percent, tr  # noqa: E402
from tests.desktop_support import DISPLAY, load_model, wait_error_box  # noqa: E402

#: Fixtures (and QT_QPA_PLATFORM=offscreen) come from here.
pytest_plugins = ["tests.desktop_support"]


def assert_result_shown(window, controller):
    panel = window.single.result_panel
    labels = panel.shown_labels()
    assert labels and set(labels) <= set(DISPLAY[window.lang].values())  # names come from the model file
    assert labels[0] == controller.result.rows[0][0]
    values = [bar.value() for bar in panel.bars if bar.isVisible()]
    assert values == sorted(values, reverse=True) and sum(values) == pytest.approx(1000, abs=3)
    assert panel.time_label.text() == tr("Took %(ms).0f ms", window.lang, ms=controller.result.elapsed_ms)
    assert "resnet18" in panel.model_label.text()


def test_open_image_shows_top_labels_bars_model_and_time(qtbot, app_window, desktop_model, pictures):
    window, controller = app_window
    assert "Drop a picture" in window.single.image_view.text()  # first start: a hint, no picture
    load_model(qtbot, controller, desktop_model)
    window.ask_open_image = lambda start: str(pictures["good0"])
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        qtbot.mouseClick(window.single.open_button, Qt.LeftButton)
    assert window.single.image_view.has_image
    assert_result_shown(window, controller)
    assert controller.settings.last_image == str(pictures["good0"])
    assert controller.settings.last_dir("image") == str(pictures["good0"].parent)


def test_bad_files_show_a_dialog_and_the_window_stays_usable(qtbot, app_window, desktop_model, pictures):
    window, controller = app_window
    load_model(qtbot, controller, desktop_model)
    for bad, words in (("html", "not a picture"), ("truncated", "corrupt")):
        window.ask_open_image = lambda start, p=pictures[bad]: str(p)
        qtbot.mouseClick(window.single.open_button, Qt.LeftButton)
        box = wait_error_box(qtbot, window)
        assert box.windowTitle() == "Cannot open this image"
        assert words in box.text() and pictures[bad].name in box.text()
        qtbot.mouseClick(box.button(QMessageBox.Ok), Qt.LeftButton)
        qtbot.waitUntil(lambda: window.error_box is None)
    assert controller.image is None and controller.result is None
    window.ask_open_image = lambda start: str(pictures["good1"])
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        qtbot.mouseClick(window.single.open_button, Qt.LeftButton)
    assert_result_shown(window, controller)


def test_unusable_model_file_shows_a_dialog(qtbot, app_window, tmp_path):
    window, controller = app_window
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model" * 10)
    window.ask_model = lambda start: str(junk)
    window.model_action.trigger()
    box = wait_error_box(qtbot, window)
    assert box.windowTitle() == "Cannot open this model"
    assert "damaged or not a model" in box.text()
    assert controller.predictor is None and not window.single.recognise_button.isEnabled()


def test_recognise_button_when_auto_recognise_is_off(qtbot, app_window, desktop_model, pictures):
    window, controller = app_window
    window.single.auto_check.setChecked(False)
    assert controller.settings.auto_recognise is False
    load_model(qtbot, controller, desktop_model)
    with qtbot.waitSignal(controller.image_changed, timeout=30_000):
        window.image_chosen.emit(str(pictures["good0"]))
    qtbot.wait(200)
    assert controller.result is None and window.single.recognise_button.isEnabled()
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        qtbot.mouseClick(window.single.recognise_button, Qt.LeftButton)
    assert_result_shown(window, controller)


def test_paste_from_clipboard_and_drop_a_file(qtbot, app_window, desktop_model, pictures):
    window, controller = app_window
    load_model(qtbot, controller, desktop_model)
    QApplication.clipboard().setImage(QImage(str(pictures["good1"])))
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        qtbot.mouseClick(window.single.paste_button, Qt.LeftButton)
    assert controller.image.name == "clipboard"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pictures["good0"]))])
    drop = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        window.dropEvent(drop)
    assert controller.image.name == pictures["good0"].name
    QApplication.clipboard().setText("just words")
    qtbot.mouseClick(window.single.paste_button, Qt.LeftButton)
    assert "no image" in wait_error_box(qtbot, window).text()


def test_recognise_without_model_or_image_explains_why(qtbot, app_window):
    window, controller = app_window
    controller.recognise()
    assert "No model is loaded" in wait_error_box(qtbot, window).text()


def _answer_exit_dialog(button):
    def answer():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "exit" in box.text()
        box.button(button).click()

    QTimer.singleShot(100, answer)


def test_exit_asks_for_confirmation_and_remembers_the_window_size(qtbot, settings):
    window, controller = build(settings, "en")
    qtbot.addWidget(window)
    window.resize(800, 540)
    window.show()
    _answer_exit_dialog(QMessageBox.No)
    assert window.close() is False
    assert window.isVisible() and settings.geometry is None
    _answer_exit_dialog(QMessageBox.Yes)
    assert window.close() is True
    assert not window.isVisible() and settings.geometry is not None
    again, _ = build(settings, "en")
    qtbot.addWidget(again)
    again.confirm_exit = lambda: True
    assert (again.width(), again.height()) == (800, 540)


def test_language_switch_redraws_and_is_remembered(qtbot, app_window, desktop_model, pictures, settings):
    window, controller = app_window
    load_model(qtbot, controller, desktop_model)
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        window.image_chosen.emit(str(pictures["good0"]))
    window.language_actions["zh"].trigger()
    assert window.windowTitle() == "动物识别"
    assert window.single.recognise_button.text() == "开始识别"
    assert "毫秒" in window.single.result_panel.time_label.text()
    assert_result_shown(window, controller)  # labels redrawn with the model's Chinese names
    assert settings.language == "zh" and pick_language(settings) == "zh"
    window.language_actions["en"].trigger()
    assert window.windowTitle() == "Animal recogniser"


def test_language_follows_locale_and_errors_are_translated():
    assert language_for_locale("zh_CN") == "zh" and language_for_locale("zh_TW") == "zh"
    assert language_for_locale("en_GB") == "en" and language_for_locale("C") == "en"
    assert tr("Do you want to exit the program?", "zh") == "是否要退出程序？"
    assert tr("Took %(ms).0f ms", "en", ms=12.4) == "Took 12 ms"
    assert [percent(p) for p in (1.0, 0.99951, 0.5, 0.0004, 0.0)] == [">99.9%", ">99.9%", "50.0%", "<0.1%", "0.0%"]
    from ml.images import NotAnImage

    text = error_text(NotAnImage("x.jpg is not a picture."), "zh")
    assert text.startswith("这个文件不是图片。") and "x.jpg" in text
