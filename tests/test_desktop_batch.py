"""Folder recognition in the desktop client: table, corrupt files, cancel, CSV export, class folders."""

from __future__ import annotations

import csv

import pytest
from PyQt5.QtCore import Qt

pytest.register_assert_rewrite("tests.desktop_support")

from desktop import batch as batchlib  # noqa: E402
from tests.desktop_support import DISPLAY, load_model, make_folder, run_batch, wait_error_box  # noqa: E402

pytest_plugins = ["tests.desktop_support"]


def test_batch_over_a_folder_with_corrupt_files_then_export_and_copy(qtbot, app_window, desktop_model, tmp_path):
    window, controller = app_window
    load_model(qtbot, controller, desktop_model)
    folder = make_folder(tmp_path / "photos", 5)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    message = run_batch(qtbot, window, controller, folder)
    assert message == "Finished: 5 recognised, 2 unreadable."
    table = window.batch
    assert table.table.rowCount() == 7
    assert table.progress.value() == table.progress.maximum() == 7
    rows = {table.cell(r, 0): (table.cell(r, 1), table.cell(r, 2), table.cell(r, 4)) for r in range(7)}
    assert rows["broken.jpg"][0] == "" and "unreadable" in rows["broken.jpg"][2] and "corrupt" in rows["broken.jpg"][2]
    assert "not a picture" in rows["page.png"][2]
    for name in (f"p{i:03d}.jpg" for i in range(5)):
        label, prob, note = rows[name]
        assert label in DISPLAY["en"].values() and prob.endswith("%") and note == ""
    assert table.export_button.isEnabled() and table.copy_button.isEnabled() and not table.cancel_button.isEnabled()

    out = tmp_path / "results.csv"
    window.ask_save_csv = lambda start: str(out)
    qtbot.mouseClick(table.export_button, Qt.LeftButton)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read 猫 correctly
    with out.open(encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert len(lines) == 7 and set(lines[0]) == {"file", "label", "display_label", "probability", "unknown",
                                                 "unknown_score", "error"}
    good = [r for r in lines if not r["error"]]
    assert len(good) == 5 and all(r["label"] in DISPLAY["en"] and 0 < float(r["probability"]) <= 1 for r in good)

    dest = tmp_path / "sorted"
    window.ask_folder = lambda title, start: str(dest)
    with qtbot.waitSignal(controller.status, timeout=30_000, check_params_cb=lambda m: m.startswith("Copied")):
        qtbot.mouseClick(table.copy_button, Qt.LeftButton)
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert len(copied) == 5 and {c.split("/")[0] for c in copied} <= set(DISPLAY["en"])  # class names, not labels
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # originals untouched

    window.language_actions["zh"].trigger()  # the table is redrawn with the model's Chinese names
    assert table.table.horizontalHeaderItem(1).text() == "类别" and table.table.rowCount() == 7
    shown = {table.cell(r, 0): table.cell(r, 1) for r in range(7)}
    assert {shown[f"p{i:03d}.jpg"] for i in range(5)} <= set(DISPLAY["zh"].values())
    assert table.cell(0, 4).startswith("无法读取")  # broken.jpg sorts first


def test_cancel_stops_the_batch_and_keeps_the_rows_done(qtbot, app_window, desktop_model, tmp_path):
    window, controller = app_window
    load_model(qtbot, controller, desktop_model)
    folder = make_folder(tmp_path / "many", 60, corrupt=False)
    controller.batch_rows.connect(lambda rows: window.batch.cancel_button.click())
    message = run_batch(qtbot, window, controller, folder)
    done = window.batch.table.rowCount()
    assert message == f"Cancelled after {done} of 60 pictures."
    assert 0 < done < 60 and done % batchlib.CHUNK_SIZE == 0
    assert len(controller.batch_results) == done
    assert window.batch.choose_button.isEnabled() and not window.batch.cancel_button.isEnabled()


def test_folder_errors_and_second_batch_are_dialogs(qtbot, app_window, desktop_model, tmp_path):
    window, controller = app_window
    controller.run_batch(str(tmp_path))
    assert "No model is loaded" in wait_error_box(qtbot, window).text()
    load_model(qtbot, controller, desktop_model)
    empty = tmp_path / "empty"
    empty.mkdir()
    controller.run_batch(str(empty))
    box = wait_error_box(qtbot, window)
    assert box.windowTitle() == "Cannot read this folder" and "no pictures" in box.text()
    controller.export_csv(str(tmp_path / "x.csv"))
    assert "no results" in wait_error_box(qtbot, window).text()
    folder = make_folder(tmp_path / "photos", 40, corrupt=False)
    with qtbot.waitSignal(controller.batch_done, timeout=60_000):
        controller.run_batch(str(folder))
        controller.run_batch(str(folder))
        assert "already running" in wait_error_box(qtbot, window).text()


def test_batch_library_without_qt(tmp_path, desktop_model):
    from ml.predict import Predictor

    with pytest.raises(batchlib.BatchError) as err:
        batchlib.list_pictures(tmp_path / "missing")
    assert err.value.code == "not_a_folder"
    folder = make_folder(tmp_path / "photos", 3)
    files = batchlib.list_pictures(folder)
    assert [f.name for f in files] == ["broken.jpg", "p000.jpg", "p001.jpg", "p002.jpg", "page.png"]
    seen = []
    rows = batchlib.classify_files(Predictor.load(desktop_model), files, on_rows=seen.extend, chunk_size=2)
    assert seen == rows and [r.ok for r in rows] == [False, True, True, True, False]
    assert rows[0].error_code == "truncated" and rows[4].error_code == "not_image"
    dest = tmp_path / "out"
    assert batchlib.copy_into_class_folders(rows, dest) == 3
    assert batchlib.copy_into_class_folders(rows, dest) == 3  # again: new names, nothing overwritten
    for label in {r.label for r in rows if r.ok}:
        names = sorted(p.name for p in (dest / label).iterdir())
        assert any("(1)" in n for n in names) and len(names) == 2 * sum(r.label == label for r in rows)
    with pytest.raises(batchlib.BatchError) as err:
        batchlib.write_csv(rows, tmp_path / "no" / "such" / "dir.csv")
    assert err.value.code == "write_failed"
    with pytest.raises(batchlib.BatchError) as err:
        batchlib.copy_into_class_folders([r for r in rows if not r.ok], dest)
    assert err.value.code == "nothing_to_copy"
    assert batchlib.safe_folder_name('a/b:c?') == "a_b_c_" and batchlib.safe_folder_name("..") == "_"
