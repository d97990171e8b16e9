"""Admin edits through the dataset pages: trash, move, rename; CSRF and bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from ml.dataset import read_split, split
from tests.imagegen import make_dataset

EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def thumbs_in_tmp(app, tmp_path):
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")


@pytest.fixture
def animals(app) -> Path:
    root = Path(app.config["DATA_DIR"]) / "animals"
    make_dataset(root, {"猫": 4, "dog": 4}, coloured=True)
    return root


def test_admin_sees_edit_forms_with_csrf_tokens(admin_client, animals):
    html = admin_client.get("/datasets/animals/images/dog/0001.jpg", headers=EN).text
    assert 'id="admin-actions"' in html
    assert html.count('name="csrf_token"') >= 2
    assert '<option value="猫">猫</option>' in html
    assert 'name="new_name"' in admin_client.get("/datasets/animals/classes/dog/", headers=EN).text


def test_delete_moves_to_trash_and_shows_the_next_image(admin_client, animals):
    response = admin_client.post("/datasets/animals/actions/delete", data={"path": "dog/0001.jpg"}, headers=EN)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/datasets/animals/images/dog/0002.jpg")
    assert not (animals / "dog" / "0001.jpg").exists()
    assert (animals / ".trash" / "dog" / "0001.jpg").is_file()
    page = admin_client.get(response.headers["Location"], headers=EN).text
    assert "Image moved to the trash folder." in page


def test_delete_last_image_goes_back_to_the_class(admin_client, animals):
    response = admin_client.post("/datasets/animals/actions/delete", data={"path": "dog/0003.jpg"})
    assert response.headers["Location"].endswith("/datasets/animals/classes/dog/")


def test_move_to_another_class(admin_client, animals):
    response = admin_client.post("/datasets/animals/actions/move", data={"path": "dog/0000.jpg", "target": "猫"})
    assert response.status_code == 302
    assert unquote(response.headers["Location"]).endswith("/datasets/animals/images/猫/0000.1.jpg")
    assert (animals / "猫" / "0000.1.jpg").is_file() and not (animals / "dog" / "0000.jpg").exists()


def test_move_to_the_same_class_is_explained(admin_client, animals):
    response = admin_client.post(
        "/datasets/animals/actions/move", data={"path": "dog/0000.jpg", "target": "dog"}, headers=EN, follow_redirects=True
    )
    assert response.status_code == 200
    assert "The image is already in class dog." in response.text
    assert (animals / "dog" / "0000.jpg").is_file()


def test_rename_class_keeps_split_usable(admin_client, animals):
    split(animals, test=0.25)
    response = admin_client.post("/datasets/animals/actions/rename", data={"class": "dog", "new_name": "狗"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/datasets/animals/classes/{quote('狗')}/")
    classes, rows = read_split(animals, "train")
    assert "狗" in classes and all((animals / rel).is_file() for rel, _ in rows)
    listing = admin_client.get("/datasets/animals/", headers=EN).text
    assert "changed since" in listing and "Split again before training" in listing


@pytest.mark.parametrize(
    "new_name,message",
    [
        ("../escape", "../escape cannot be a class name"),
        (".hidden", ".hidden cannot be a class name"),
        ("a/b", "a/b cannot be a class name"),
        ("", "Enter the new class name."),
        ("猫", "There is already a class named 猫."),
        ("dog", "The new name is the same as the old one."),
    ],
)
def test_rename_refuses_bad_or_taken_names(admin_client, animals, new_name, message):
    response = admin_client.post(
        "/datasets/animals/actions/rename", data={"class": "dog", "new_name": new_name}, headers=EN, follow_redirects=True
    )
    assert response.status_code == 200
    assert 'class="alert alert-error"' in response.text
    assert message in response.text
    assert (animals / "dog").is_dir()
    assert not (animals.parent / "escape").exists()


@pytest.mark.parametrize(
    "action,data",
    [
        ("delete", {"path": "../../secret.txt"}),
        ("delete", {"path": "/etc/passwd"}),
        ("delete", {"path": "dog/../../animals/猫/0000.jpg"}),
        ("move", {"path": "dog/0000.jpg", "target": "../outside"}),
        ("move", {"path": "dog/0000.jpg", "target": "/tmp"}),
        ("rename", {"class": "../animals", "new_name": "x"}),
        ("rename", {"class": ".trash", "new_name": "x"}),
    ],
)
def test_admin_cannot_edit_outside_the_dataset(admin_client, animals, action, data):
    (animals.parent.parent / "secret.txt").write_text("top secret")
    response = admin_client.post(f"/datasets/animals/actions/{action}", data=data)
    assert response.status_code == 404
    assert (animals.parent.parent / "secret.txt").read_text() == "top secret"
    assert (animals / "dog" / "0000.jpg").is_file() and (animals / "猫" / "0000.jpg").is_file()
    assert not (animals / ".trash").exists()


def test_post_without_csrf_token_is_refused(app, admin_client, animals):
    admin_client.csrf_token = None
    response = admin_client.post("/datasets/animals/actions/delete", data={"path": "dog/0000.jpg"})
    assert response.status_code == 400
    assert (animals / "dog" / "0000.jpg").is_file()


def test_refusals_are_translated(admin_client, animals):
    response = admin_client.post(
        "/datasets/animals/actions/rename", data={"class": "dog", "new_name": "猫"},
        headers={"Accept-Language": "zh-CN"}, follow_redirects=True,
    )
    assert "已经有名为 猫 的类别。" in response.text


def test_edit_log_records_who_did_what(admin_client, animals):
    admin_client.post("/datasets/animals/actions/delete", data={"path": "dog/0000.jpg"})
    entries = [json.loads(line) for line in (animals / ".trash" / "edits.jsonl").read_text(encoding="utf-8").splitlines()]
    assert entries[-1]["action"] == "delete" and entries[-1]["original"] == "dog/0000.jpg"
    assert entries[-1]["user"] == "admin"
