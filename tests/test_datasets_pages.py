"""Dataset pages over HTTP: listing, counts, thumbnails, pagination, detail, admin edits, bad paths."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.imagegen import make_dataset, truncated_jpeg

EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def thumbs_in_tmp(app, tmp_path):
    """Keep thumbnails out of the repository's instance folder."""
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")


@pytest.fixture
def animals(app) -> Path:
    root = Path(app.config["DATA_DIR"]) / "animals"
    make_dataset(root, {"猫": 5, "dog": 7}, coloured=True)
    (root / ".rejected").mkdir()
    (Path(app.config["DATA_DIR"]).parent / "secret.txt").write_text("top secret")
    return root


def test_empty_data_dir_says_so(client):
    html = client.get("/datasets/", headers=EN).text
    assert "No datasets yet." in html


def test_list_shows_datasets_with_counts(client, animals):
    html = client.get("/datasets/", headers=EN).text
    row = re.search(r'<a href="/datasets/animals/">animals</a></td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', html)
    assert row and row.groups() == ("2", "12")
    assert "not split" in html


def test_dataset_page_lists_classes_with_unicode_urls(client, animals):
    html = client.get("/datasets/animals/", headers=EN).text
    assert f'href="/datasets/animals/classes/{quote("猫")}/"' in html
    assert re.search(r'<span>猫</span><span class="num muted">5</span>', html)
    assert ".rejected" not in html


def test_class_grid_paginates_and_thumbnails_are_cached(app, client, animals):
    app.config["DATASET_PAGE_SIZE"] = 3
    url = f"/datasets/animals/classes/{quote('dog')}/"
    first = client.get(url, headers=EN).text
    assert first.count('<img loading="lazy"') == 3
    assert "Page 1 of 3" in first and 'rel="next"' in first
    last = client.get(url + "?page=3", headers=EN).text
    assert last.count('<img loading="lazy"') == 1 and 'rel="prev"' in last
    assert "Page 3 of 3" in client.get(url + "?page=99", headers=EN).text
    assert "Page 1 of 3" in client.get(url + "?page=abc", headers=EN).text

    thumb_url = re.search(r'src="(/datasets/animals/thumbs/[^"]+)"', first).group(1).replace("&amp;", "&")
    response = client.get(thumb_url)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    cached = list(Path(app.config["THUMB_DIR"]).rglob("*.jpg"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert client.get(thumb_url).data == response.data
    assert cached[0].stat().st_mtime_ns == stamp


def test_broken_image_gets_a_placeholder_thumbnail(client, animals):
    (animals / "dog" / "zz-broken.jpg").write_bytes(truncated_jpeg())
    response = client.get("/datasets/animals/thumbs/dog/zz-broken.jpg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_image_detail_shows_facts_and_neighbours(client, animals):
    html = client.get(f"/datasets/animals/images/{quote('猫')}/0001.jpg", headers=EN).text
    assert "96 × 72" in html and "猫/0001.jpg" in html
    assert f'href="/datasets/animals/images/{quote("猫")}/0000.jpg"' in html
    assert f'href="/datasets/animals/images/{quote("猫")}/0002.jpg"' in html
    assert "2 / 5" in html
    assert 'id="admin-actions"' not in html  # anonymous visitors see no edit buttons


def test_original_file_is_served_as_an_image(client, animals):
    response = client.get("/datasets/animals/files/dog/0000.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_non_image_file_downloads_instead_of_rendering(client, animals):
    (animals / "dog" / "page.html").write_text("<script>alert(1)</script>")
    response = client.get("/datasets/animals/files/dog/page.html")
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "url",
    [
        "/datasets/nope/",
        "/datasets/..%2F..%2F/",
        "/datasets/.rejected/",
        "/datasets/animals/classes/nope/",
        "/datasets/animals/classes/.rejected/",
        "/datasets/animals/classes/%2e%2e/",
        "/datasets/animals/images/../../secret.txt",
        "/datasets/animals/images/%2e%2e/%2e%2e/secret.txt",
        "/datasets/animals/images/dog/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/datasets/animals/files/dog/..%2F..%2F..%2Fsecret.txt",
        "/datasets/animals/files//etc/passwd",
        "/datasets/animals/files/%2Fetc%2Fpasswd",
        "/datasets/animals/thumbs/dog/../../../secret.txt",
        "/datasets/animals/files/dog/missing.jpg",
    ],
)
def test_paths_outside_a_dataset_are_not_found(client, animals, url):
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 404
    assert b"top secret" not in response.data
    assert b"root:" not in response.data


def test_symlink_out_of_the_dataset_is_not_followed(client, animals):
    (animals / "dog" / "escape.jpg").symlink_to(animals.parent.parent / "secret.txt")
    for kind in ("files", "images", "thumbs"):
        response = client.get(f"/datasets/animals/{kind}/dog/escape.jpg")
        assert response.status_code == 404
        assert b"top secret" not in response.data


@pytest.mark.parametrize(
    "action,data",
    [
        ("delete", {"path": "dog/0000.jpg"}),
        ("move", {"path": "dog/0000.jpg", "target": "猫"}),
        ("rename", {"class": "dog", "new_name": "狗"}),
    ],
)
def test_anonymous_users_cannot_edit(app, client, animals, action, data):
    app.config["WTF_CSRF_ENABLED"] = False  # reach the login check itself
    response = client.post(f"/datasets/animals/actions/{action}", data=data)
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "login" in response.headers["Location"]
    assert (animals / "dog" / "0000.jpg").is_file() and (animals / "dog").is_dir()
    json_response = client.post(f"/datasets/animals/actions/{action}", data=data, headers={"Accept": "application/json"})
    assert json_response.status_code == 401
