"""The desktop client shows the model's "none of my classes" verdict: single picture, batch table, CSV."""

from __future__ import annotations

import csv

import pytest
from PyQt5.QtCore import Qt

pytest.register_assert_rewrite("tests.desktop_support")

from tests.desktop_support import DISPLAY, load_model, make_folder, run_batch  # noqa: E402
from tests.modelgen import ALWAYS_UNKNOWN, NEVER_UNKNOWN, with_meta  # noqa: E402

pytest_plugins = ["tests.desktop_support"]

NOT_AVAILABLE = "Unknown-photo check not available for this model."


def recognise(qtbot, window, controller, picture):
    with qtbot.waitSignal(controller.result_ready, timeout=30_000):
        window.image_chosen.emit(str(picture))
    return window.single.result_panel


def test_unknown_photo_says_so_with_the_closest_guess_in_both_languages(qtbot, app_window, desktop_model, pictures, tmp_path):
    window, controller = app_window
    load_model(qtbot, controller, with_meta(desktop_model, tmp_path / "checked.pt", open_set=ALWAYS_UNKNOWN))
    panel = recognise(qtbot, window, controller, pictures["good0"])
    assert controller.result.unknown is True
    label, _, prob = controller.result.rows[0]
    assert not panel.unknown_label.isHidden()
    assert panel.unknown_label.text() == f"This photo doesn't look like any animal I know — closest: {label} {prob:.0%}"
    assert panel.shown_labels()[0] == label  # the guesses are still shown
    window.language_actions["zh"].trigger()
    zh_label = controller.result.rows[0][0]
    assert zh_label in DISPLAY["zh"].values()
    assert panel.unknown_label.text() == f"这张照片不像我认识的任何一种动物 — 最像：{zh_label} {prob:.0%}"


def test_known_photo_shows_no_note(qtbot, app_window, desktop_model, pictures, tmp_path):
    window, controller = app_window
    load_model(qtbot, controller, with_meta(desktop_model, tmp_path / "checked.pt", open_set=NEVER_UNKNOWN))
    panel = recognise(qtbot, window, controller, pictures["good1"])
    assert controller.result.unknown is False and controller.result.unknown_score < 0
    assert panel.unknown_label.isHidden() and panel.unknown_label.text() == ""


def test_model_without_the_check_says_not_available(qtbot, app_window, desktop_model, pictures, tmp_path):
    window, controller = app_window
    load_model(qtbot, controller, with_meta(desktop_model, tmp_path / "old.pt"))
    panel = recognise(qtbot, window, controller, pictures["good0"])
    assert controller.result.unknown is None
    assert not panel.unknown_label.isHidden() and panel.unknown_label.text() == NOT_AVAILABLE
    window.language_actions["zh"].trigger()
    assert panel.unknown_label.text() == "此模型没有“不认识的照片”检查。"
    panel.clear()
    assert panel.unknown_label.isHidden()


@pytest.mark.parametrize(("open_set", "shown", "in_csv"), [(ALWAYS_UNKNOWN, "yes", "true"), (None, "n/a", "")])
def test_batch_table_and_csv_have_an_unknown_column(qtbot, app_window, desktop_model, tmp_path, open_set, shown, in_csv):
    window, controller = app_window
    meta = {"open_set": open_set} if open_set else {}
    load_model(qtbot, controller, with_meta(desktop_model, tmp_path / "m.pt", **meta))
    folder = make_folder(tmp_path / "photos", 3)
    assert run_batch(qtbot, window, controller, folder) == "Finished: 3 recognised, 2 unreadable."
    table = window.batch
    assert table.table.horizontalHeaderItem(3).text() == "Unknown?"
    column = {table.cell(r, 0): table.cell(r, 3) for r in range(5)}
    assert column == {"broken.jpg": "", "page.png": "", "p000.jpg": shown, "p001.jpg": shown, "p002.jpg": shown}
    out = tmp_path / "results.csv"
    window.ask_save_csv = lambda start: str(out)
    qtbot.mouseClick(table.export_button, Qt.LeftButton)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        lines = {r["file"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}
    assert {lines[f"p00{i}.jpg"]["unknown"] for i in range(3)} == {in_csv}
    assert lines["broken.jpg"]["unknown"] == "" and lines["broken.jpg"]["unknown_score"] == ""
    scores = [lines[f"p00{i}.jpg"]["unknown_score"] for i in range(3)]
    assert all(float(s) < 0 for s in scores) if open_set else scores == ["", "", ""]
    window.language_actions["zh"].trigger()
    assert table.table.horizontalHeaderItem(3).text() == "不认识？"
    assert table.cell(1, 3) == ("是" if open_set else "不适用")  # p000.jpg, after broken.jpg


def test_model_line_shows_out_of_source_accuracy_first_in_both_languages():
    from types import SimpleNamespace

    from desktop.controller import model_summary

    info = {"name": "animals5", "arch": "efficientnet_lite2", "metrics": {"accuracy": 0.99},
            "evaluations": {"out_of_source": {"accuracy": 0.967, "count": 487}, "in_source": {"accuracy": 0.978}}}
    predictor = SimpleNamespace(info=info, backend="onnx")
    en = model_summary(predictor, "animals5.pt", "en")
    assert "96.7% on 487 photos from other sources" in en and en.index("96.7%") < en.index("97.8% in-source")
    zh = model_summary(predictor, "animals5.pt", "zh")
    assert "487 张其他来源照片" in zh and "同源测试 97.8%" in zh
    old = model_summary(SimpleNamespace(info={"name": "old", "metrics": {"accuracy": 0.9}}, backend="torch"), "old.pt")
    assert "90.0% in-source test" in old
