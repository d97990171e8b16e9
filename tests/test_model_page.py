"""The model page: figures out-of-source first, training curves from the exported metadata, per-class table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from webapp.admin.curves import chart

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "default"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _register(app, folder: Path, *, with_reports: bool = True) -> int:
    """The shipped model's JSON metadata and reports beside a placeholder weights file (the page never loads it)."""
    from webapp.registry import register_model

    folder.mkdir(parents=True)
    (folder / "animals5.pt").write_bytes(b"weights are not read by the model page")
    names = ["animals5.json"] + (["animals5.metrics.json", "animals5.out_of_source.metrics.json",
                                  "animals5.others.unknown.json", "animals5.confusion.png"] if with_reports else [])
    for name in names:
        shutil.copy(SHIPPED / name, folder / name)
    meta = json.loads((SHIPPED / "animals5.json").read_text(encoding="utf-8"))
    with app.app_context():
        return register_model(folder / "animals5.pt", name=folder.name, arch=meta["arch"], classes=meta["classes"],
                              metrics=meta["metrics"]).id


@pytest.fixture
def shipped(app, tmp_path) -> int:
    return _register(app, tmp_path / "shipped")


def pct(value: float) -> str:
    """A fraction as the page writes it: 0.9615 → "96.2%"."""
    return f"{value * 100:.1f}%"


def _report(name: str) -> dict:
    return json.loads((SHIPPED / name).read_text(encoding="utf-8"))


def test_figures_come_out_of_source_first_then_in_source_then_unknown(admin_client, shipped):
    html = admin_client.get(f"/admin/models/{shipped}", headers=EN).text
    oos, ins = _report("animals5.out_of_source.metrics.json"), _report("animals5.metrics.json")
    assert pct(oos["accuracy"]) in html.split('id="oos-accuracy"')[1].split("</dd>")[0]
    assert pct(ins["accuracy"]) in html.split('id="in-source-accuracy"')[1].split("</dd>")[0]
    assert html.index("Out-of-source accuracy") < html.index("In-source test accuracy") < html.index("Other things called unknown")
    unknown = _report("animals5.others.unknown.json")
    assert f"{unknown['flagged_rate'] * 100:.0f}%" in html.split('id="unknown-rate"')[1].split("</dd>")[0]


def test_training_curves_draw_every_epoch_of_the_record(admin_client, shipped):
    html = admin_client.get(f"/admin/models/{shipped}", headers=EN).text
    history = json.loads((SHIPPED / "animals5.json").read_text(encoding="utf-8"))["history"]
    assert 'data-chart="loss"' in html and 'data-chart="accuracy"' in html
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        points = re.search(rf'<polyline class="series series-\d" data-key="{key}" points="([^"]+)"', html).group(1).split()
        assert len(points) == len(history)
        ys = [float(p.split(",")[1]) for p in points]
        values = [row[key] for row in history]
        # SVG y grows downwards: a higher value is drawn higher up, so the order of y is the reverse.
        for i in range(len(values) - 1):
            if values[i] != values[i + 1]:
                assert (ys[i] > ys[i + 1]) == (values[i] < values[i + 1]), (key, i)
    table = html.split('id="epochs"')[1].split("</table>")[0]
    assert table.count("<tr><td") == len(history)
    assert f"{history[0]['loss']:.4f}" in table and pct(history[1]["val_accuracy"]) in table


def test_per_class_table_puts_out_of_source_columns_first(admin_client, shipped):
    html = admin_client.get(f"/admin/models/{shipped}", headers=EN).text
    section = html.split('id="per-class"')[1]
    assert section.index(">Out-of-source<") < section.index(">In-source<")
    horse = section.split('<tr data-class="horse">')[1].split("</tr>")[0]
    oos, ins = _report("animals5.out_of_source.metrics.json")["per_class"]["horse"], _report("animals5.metrics.json")["per_class"]["horse"]
    cells = re.findall(r'<td class="num">([^<]+)</td>', horse)
    assert cells == [pct(oos["precision"]), pct(oos["recall"]), str(oos["support"]),
                     pct(ins["precision"]), pct(ins["recall"]), str(ins["support"])]


def test_the_page_speaks_chinese(admin_client, shipped):
    zh = admin_client.get(f"/admin/models/{shipped}", headers=ZH).text
    assert "训练曲线" in zh and "其他来源照片准确率" in zh and "各类别的精确率和召回率" in zh
    assert "Training curves" not in zh and "Per-class precision and recall" not in zh


def test_a_model_without_reports_or_record_says_so(app, admin_client, tmp_path):
    bare = _register(app, tmp_path / "bare", with_reports=False)
    (tmp_path / "bare" / "animals5.json").unlink()
    html = admin_client.get(f"/admin/models/{bare}", headers=EN).text
    assert "This model has no per-epoch training record." in html and "<polyline" not in html
    assert "No out-of-source evaluation yet" in html and "Out-of-source accuracy" not in html
    # The per-class figures stored at registration still show, labelled in-source.
    assert ">In-source<" in html and ">Out-of-source<" not in html and '<tr data-class="horse">' in html


def test_models_list_links_to_the_model_page_and_visitors_are_sent_to_login(client, admin_client, shipped):
    assert f'href="/admin/models/{shipped}"' in admin_client.get("/admin/models", headers=EN).text
    response = client.get(f"/admin/models/{shipped}")
    assert response.status_code in (302, 401) and b"Training curves" not in response.data
    assert admin_client.get("/admin/models/9999").status_code == 404


def test_one_epoch_sits_in_the_middle_and_a_missing_series_is_left_out():
    one = chart("accuracy", [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": None, "val_accuracy": None}], 1)
    assert [s["key"] for s in one["series"]] == ["accuracy"]
    (x, _y, epoch, value), = one["series"][0]["dots"]
    assert x == one["best_x"] == (one["left"] + one["right"]) / 2 and (epoch, value) == (1, 0.8)
    assert chart("loss", [{"epoch": 1, "loss": None, "accuracy": None, "val_loss": None, "val_accuracy": None}]) is None


def test_confusion_cells_off_the_diagonal_open_the_pictures_behind_them(app, admin_client):
    from ml.dataset import read_split, split
    from tests.imagegen import make_dataset
    from tests.test_datasets_grid import model_with_mistakes

    root = make_dataset(Path(app.config["DATA_DIR"]) / "animals", {"猫": 6, "dog": 6}, coloured=True)
    split(root, test=0.5, seed=0)
    classes, rows = read_split(root, "test")
    wrong = sorted(rel for rel, label in rows if classes[label] == "dog")[:2]
    model_id = model_with_mistakes(app, root, wrong, activate=False)
    html = admin_client.get(f"/admin/models/{model_id}", headers=EN).text
    table = html.split('<table class="confusion-table" data-kind="in_source">')[1].split("</table>")[0]
    link = re.search(r'<a href="([^"]+)" aria-label="2 pictures of dog taken for 猫">2</a>', table).group(1)
    assert link == f"/datasets/animals/classes/dog/?show=misclassified&amp;seen=%E7%8C%AB&amp;model={model_id}"
    assert table.count("<a href") == 1  # only the non-zero cell off the diagonal opens pictures
    grid = admin_client.get(link.replace("&amp;", "&"), headers=EN).text
    assert re.findall(r'<img loading="lazy" alt="([^"]+)"', grid) == [rel.split("/")[1] for rel in wrong]
