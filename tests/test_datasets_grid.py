"""Dataset pages with pictures: class cards, the filtered and paged grid, bulk trash and move."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from ml.dataset import read_split, scan, split
from ml.dataset.flags import flag_files
from ml.evaluate import compute_metrics, report_files
from ml.files import write_json_atomic
from tests.imagegen import encode, make_dataset, near_duplicate, shapes

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
THUMB = re.compile(r'<img loading="lazy" alt="([^"]+)"')


@pytest.fixture(autouse=True)
def thumbs_in_tmp(app, tmp_path):
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")


@pytest.fixture
def animals(app) -> Path:
    """Two classes of 10 split pictures; dog also holds a near duplicate, a tiny picture and a banner."""
    root = Path(app.config["DATA_DIR"]) / "animals"
    make_dataset(root, {"猫": 10, "dog": 10}, coloured=True)
    original = (root / "dog" / "0002.jpg").read_bytes()
    (root / "dog" / "copy.jpg").write_bytes(near_duplicate(original))
    (root / "dog" / "tiny.jpg").write_bytes(encode(shapes(77, (40, 40)), "JPEG"))
    (root / "dog" / "banner.jpg").write_bytes(encode(shapes(78, (400, 80)), "JPEG"))
    split(root, test=0.3, seed=1)  # scans first: dataset.json records sizes and hashes
    return root


def names(html: str) -> list[str]:
    return THUMB.findall(html)


def part_files(root: Path, part: str, cls: str) -> set[str]:
    classes, rows = read_split(root, part)
    return {rel.split("/")[-1] for rel, label in rows if classes[label] == cls}


def test_flags_come_from_the_scan_record(animals):
    from ml.dataset import read_metadata

    flags = flag_files(read_metadata(animals))
    assert flags["dog/copy.jpg"] == ["near_duplicate", "small"]  # re-encoded at 3/4 size: 72 x 54
    assert flags["dog/0002.jpg"] == ["near_duplicate"]
    assert flags["dog/tiny.jpg"] == ["small"]
    assert flags["dog/banner.jpg"] == ["odd_shape"]
    assert set(flags) == {"dog/copy.jpg", "dog/0002.jpg", "dog/tiny.jpg", "dog/banner.jpg"}
    meta = read_metadata(animals)
    assert meta["duplicates"] == {"exact": [], "near": [["dog/0002.jpg", "dog/copy.jpg"]]}  # recorded by the scan
    del meta["duplicates"]  # a dataset.json from before the scan recorded its groups: recomputed from the hashes
    assert flag_files(meta) == flags


def test_dataset_page_shows_a_card_per_class_with_thumbnails(client, animals):
    html = client.get("/datasets/animals/", headers=EN).text
    cards = html.split('<li class="card class-card">')[1:]
    assert len(cards) == 2
    for card in cards:
        assert card.count("/datasets/animals/thumbs/") == 4
    assert re.search(r'<span>猫</span><span class="num muted">10</span>', html)
    dog_card = cards[0]  # classes sort by code point: "dog" before "猫"
    assert f"train {len(part_files(animals, 'train', 'dog'))}" in dog_card
    assert f"test {len(part_files(animals, 'test', 'dog'))}" in dog_card
    assert 'href="/datasets/animals/classes/dog/?show=flagged">flagged 4</a>' in dog_card
    thumb = re.search(r'src="(/datasets/animals/thumbs/[^"]+)"', cards[0]).group(1).replace("&amp;", "&")
    assert client.get(thumb).mimetype == "image/jpeg"


def test_grid_filters_by_split_part_and_keeps_the_filter_while_paging(app, client, animals):
    url = f"/datasets/animals/classes/{quote('dog')}/"
    train, test = part_files(animals, "train", "dog"), part_files(animals, "test", "dog")
    assert train and test and not train & test
    html = client.get(url + "?show=train&per=96", headers=EN).text
    assert set(names(html)) == train
    assert f"In train ({len(train)})" in html and f"In test ({len(test)})" in html
    assert f"{len(train)} of 13 images match." in html
    assert set(names(client.get(url + "?show=test", headers=EN).text)) == test

    app.config["DATASET_PAGE_SIZE"] = 2
    first = client.get(url + "?show=train", headers=EN).text
    assert len(names(first)) == 2
    pages = -(-len(train) // 2)
    assert f"Page 1 of {pages}" in first
    assert 'rel="next" class="btn" href="/datasets/animals/classes/dog/?show=train&amp;page=2"' in first
    assert 'aria-current="page"' in first
    seen = set()
    for n in range(1, pages + 1):
        seen |= set(names(client.get(url + f"?show=train&page={n}", headers=EN).text))
    assert seen == train

    bigger = client.get(url + "?show=train&per=24", headers=EN).text
    assert len(names(bigger)) == len(train) and "Page 1 of" not in bigger
    assert '<option value="24" selected>' in bigger
    assert len(names(client.get(url + "?show=nonsense&per=7", headers=EN).text)) == 2  # unknown values: defaults


def test_flagged_filter_shows_the_scan_suspects_with_their_reasons(client, animals):
    html = client.get("/datasets/animals/classes/dog/?show=flagged", headers=EN).text
    assert sorted(names(html)) == ["0002.jpg", "banner.jpg", "copy.jpg", "tiny.jpg"]
    assert html.count('<span class="badge badge-warn">near duplicate</span>') == 2
    assert html.count('<span class="badge badge-warn">small</span>') == 2
    assert '<span class="badge badge-warn">odd shape</span>' in html
    detail = client.get("/datasets/animals/images/dog/banner.jpg", headers=EN).text
    assert '<dd id="flags"><span class="badge badge-warn">odd shape</span> </dd>' in detail
    zh = client.get("/datasets/animals/classes/dog/?show=flagged", headers=ZH).text
    assert "odd shape" not in zh and "Flagged by the scan" not in zh
    assert "No image of this class matches the filter." in client.get(
        f"/datasets/animals/classes/{quote('猫')}/?show=flagged", headers=EN).text


def model_with_mistakes(app, root: Path, wrong: list[str], *, name: str = "m1", activate: bool = True) -> int:
    """A registered model whose test report (the file evaluation writes) names `wrong` as mistakes; its id."""
    from webapp.registry import register_model

    model = Path(app.config["MODEL_DIR"]) / name / f"{name}.pt"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"not loaded by the dataset pages")
    classes, rows = read_split(root, "test")
    files = [rel for rel, _label in rows]
    labels = [label for _rel, label in rows]
    probs = np.eye(len(classes))[labels]
    for rel in wrong:
        probs[files.index(rel)] = np.eye(len(classes))[1 - labels[files.index(rel)]]
    metrics = compute_metrics(labels, probs, classes, files) | {"part": "test", "dataset": str(root)}
    write_json_atomic(report_files(model)["metrics"], metrics)
    with app.app_context():
        return register_model(model, classes=classes, metrics={"accuracy": metrics["accuracy"]}, activate=activate).id


def test_misclassified_filter_reads_the_active_models_report_for_admins_only(app, client, admin_client, animals):
    test_dog = sorted(part_files(animals, "test", "dog"))
    wrong = [f"dog/{test_dog[0]}"]
    model_with_mistakes(app, animals, wrong)
    html = admin_client.get("/datasets/animals/classes/dog/?show=misclassified", headers=EN).text
    assert names(html) == [test_dog[0]]
    assert "Misclassified by the active model (1)" in html
    assert '<span class="badge badge-err">seen as 猫</span>' in html
    detail = admin_client.get(f"/datasets/animals/images/dog/{test_dog[0]}", headers=EN).text
    assert re.search(r'<dd id="seen-as">m1: seen as 猫 \(\d+%\)</dd>', detail)
    assert "seen as" not in client.get(f"/datasets/animals/images/dog/{test_dog[0]}", headers=EN).text
    public = client.get("/datasets/animals/classes/dog/?show=misclassified", headers=EN).text
    assert "Misclassified" not in public and "seen as" not in public
    assert len(names(public)) == 13  # not offered to visitors: the filter falls back to all images


def test_admin_bulk_trash_and_move_keep_the_split_consistent(app, admin_client, animals):
    html = admin_client.get("/datasets/animals/classes/dog/?show=flagged", headers=EN).text
    assert 'id="bulk-form"' in html and html.count('name="path"') == 4
    assert '<option value="move:猫">Move to class 猫</option>' in html
    response = admin_client.post("/datasets/animals/actions/bulk", headers=EN, data={
        "class": "dog", "show": "flagged", "per": "48", "page": "1", "action": "trash",
        "path": ["dog/tiny.jpg", "dog/banner.jpg", "dog/../猫/0000.jpg"]})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/datasets/animals/classes/dog/?show=flagged&per=48&page=1")
    assert (animals / ".trash" / "dog" / "tiny.jpg").is_file() and (animals / ".trash" / "dog" / "banner.jpg").is_file()
    assert (animals / "猫" / "0000.jpg").is_file()  # a path outside the class is refused, not followed
    page = admin_client.get(response.headers["Location"], headers=EN).text
    assert "Images moved to the trash folder: 2." in page and "is no longer in this class" in page
    log = [json.loads(line) for line in (animals / ".trash" / "edits.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["delete", "delete"] and log[0]["user"] == "admin"

    moved = sorted(part_files(animals, "train", "dog"))[:2]
    response = admin_client.post("/datasets/animals/actions/bulk", headers=ZH, data={
        "class": "dog", "action": "move:猫", "path": [f"dog/{n}" for n in moved]})
    assert all((animals / "猫" / n).is_file() for n in moved)
    classes, rows = read_split(animals, "train")
    assert {(rel, classes[label]) for rel, label in rows} >= {(f"猫/{n}", "猫") for n in moved}
    zh = admin_client.get(response.headers["Location"], headers=ZH).text
    assert "已移到 猫 的图片：2 张。" in zh and "Images moved to" not in zh


@pytest.mark.parametrize("data,status", [
    ({"class": "dog", "action": "explode", "path": "dog/0000.jpg"}, 400),
    ({"class": "nope", "action": "trash", "path": "dog/0000.jpg"}, 404),
])
def test_bulk_refuses_unknown_actions_and_classes(admin_client, animals, data, status):
    assert admin_client.post("/datasets/animals/actions/bulk", data=data).status_code == status
    assert (animals / "dog" / "0000.jpg").is_file()


def test_bulk_without_a_selection_or_to_a_missing_class_changes_nothing(admin_client, animals):
    before = sorted(p.name for p in (animals / "dog").iterdir())
    page = admin_client.post("/datasets/animals/actions/bulk", headers=EN, follow_redirects=True,
                             data={"class": "dog", "action": "trash"}).text
    assert "Select at least one image first." in page
    page = admin_client.post("/datasets/animals/actions/bulk", headers=EN, follow_redirects=True,
                             data={"class": "dog", "action": "move:horse", "path": "dog/0000.jpg"}).text
    assert "There is no class named horse." in page
    assert sorted(p.name for p in (animals / "dog").iterdir()) == before


def test_anonymous_users_cannot_bulk_edit(app, client, animals):
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/datasets/animals/actions/bulk", data={"class": "dog", "action": "trash", "path": "dog/0000.jpg"})
    assert response.status_code in (302, 401)
    assert (animals / "dog" / "0000.jpg").is_file()
    assert 'name="path"' not in client.get("/datasets/animals/classes/dog/", headers=EN).text


def test_a_fresh_scan_updates_the_flags(client, animals):
    (animals / "dog" / "tiny.jpg").unlink()
    scan(animals)
    html = client.get("/datasets/animals/classes/dog/?show=flagged", headers=EN).text
    assert "tiny.jpg" not in names(html) and len(names(html)) == 3


def test_a_chosen_models_mistakes_narrowed_to_one_predicted_class(app, admin_client, animals):
    test_dog = sorted(part_files(animals, "test", "dog"))
    test_cat = sorted(part_files(animals, "test", "猫"))
    model_with_mistakes(app, animals, [f"dog/{test_dog[0]}"], name="active")
    other = model_with_mistakes(app, animals, [f"dog/{n}" for n in test_dog[:2]] + [f"猫/{test_cat[0]}"],
                                name="older", activate=False)
    url = f"/datasets/animals/classes/dog/?show=misclassified&seen={quote('猫')}&model={other}"
    html = admin_client.get(url, headers=EN).text
    assert names(html) == test_dog[:2]
    assert "Misclassified by older (2)" in html and "Only the pictures taken for 猫." in html
    assert f'<input type="hidden" name="model" value="{other}">' in html  # Apply and bulk keep the model
    assert names(admin_client.get(url.replace(quote("猫"), "dog"), headers=EN).text) == []
    assert names(admin_client.get("/datasets/animals/classes/dog/?show=misclassified", headers=EN).text) == test_dog[:1]
