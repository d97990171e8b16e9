"""The public upload page and the shared layout, without a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"


def _script_messages(html: str) -> dict:
    match = re.search(r'<script id="page-messages" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page hands its messages to the script"
    return json.loads(match.group(1))


def test_page_has_every_way_to_give_a_picture(client):
    html = client.get("/", headers={"Accept-Language": "en"}).text
    assert re.search(r'<input[^>]+id="file"[^>]+type="file"[^>]+accept="image/\*"', html)
    assert re.search(r'<input[^>]+id="camera"[^>]+accept="image/\*"[^>]+capture="environment"', html)
    assert 'id="dropzone"' in html
    assert 'name="viewport"' in html and "width=device-width" in html
    assert 'data-api-url="/api/v1/predict"' in html


def test_page_in_chinese_by_accept_language(client):
    response = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    html = response.text
    assert '<html lang="zh-CN">' in html
    assert "这是什么动物？" in html and "识别" in html and "数据集" in html
    assert response.headers["Content-Language"] == "zh-CN"
    assert _script_messages(html)["The file is empty."] == "文件是空的。"


def test_page_in_english_by_switch(client):
    html = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"}).text
    assert "What animal is this?" in html
    assert _script_messages(html)["The file is empty."] == "The file is empty."
    # The switch back to Chinese is a link on the page.
    assert 'href="/?lang=zh"' in html


def test_missing_model_is_announced_before_any_upload(app, client, tmp_path):
    html = client.get("/", headers={"Accept-Language": "en"}).text
    assert 'id="no-model"' in html and "No model has been trained yet." in html
    # A default model file on disk counts: the first upload registers it.
    default = tmp_path / "default.pt"
    default.write_bytes(b"placeholder")
    app.config["DEFAULT_MODEL"] = str(default)
    assert 'id="no-model"' not in client.get("/").text


def test_active_model_hides_the_notice(app, client):
    from webapp.registry import register_model

    model = Path(app.config["MODEL_DIR"]) / "m.pt"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"placeholder")
    with app.app_context():
        register_model(model, name="m", activate=True)
    assert 'id="no-model"' not in client.get("/").text


def test_nav_links_every_area_and_marks_the_current_one(client):
    html = client.get("/datasets/", headers={"Accept-Language": "en"}).text
    assert re.search(r'<a href="/datasets/" data-nav="datasets" aria-current="page">Datasets</a>', html)
    assert 'data-nav="predict"' in html
    assert 'data-nav="admin"' in html


@pytest.mark.parametrize("limit,text", [(10 * 1024 * 1024, "10 MB"), (512 * 1024, "512 KB"), (1536 * 1024, "1.5 MB")])
def test_upload_limit_is_shown_from_config(app, limit, text):
    app.config["MAX_CONTENT_LENGTH"] = limit
    html = app.test_client().get("/", headers={"Accept-Language": "en"}).text
    assert f'data-limit-bytes="{limit}"' in html
    assert f"Largest file: {text}" in html


def test_static_assets_are_served(client):
    for name in ("app.css", "predict.js", "favicon.svg", "broken-image.svg"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        response.close()


def test_pages_work_offline_no_external_urls():
    """Nothing in the templates or static files loads from another host (no CDN)."""
    pattern = re.compile(r"""(src|href)\s*=\s*["']\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import\s+["']?(https?:)?//""", re.I)
    offenders = []
    for folder in (WEBAPP / "templates", WEBAPP / "static"):
        for path in folder.rglob("*"):
            if path.suffix in (".html", ".css", ".js") and pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(WEBAPP)))
    assert not offenders


def test_script_knows_every_error_code_the_api_documents():
    script = (WEBAPP / "static" / "predict.js").read_text(encoding="utf-8")
    for code in ("not_image", "empty", "truncated", "too_small", "too_many_pixels", "model_missing", "no_model"):
        assert f"{code}:" in script, code
    assert "413" in script and "429" in script


def test_page_carries_the_unknown_photo_texts_in_both_languages(client):
    zh = client.get("/", headers={"Accept-Language": "zh-CN"}).text
    message = "This photo doesn't look like any animal I know — closest: %(label)s %(percent)s"
    assert _script_messages(zh)[message] == "这张照片不像我认识的任何一种动物 — 最像：%(label)s %(percent)s"
    assert re.search(r'<p id="unknown" class="alert alert-warning" role="status" hidden></p>', zh)
    assert re.search(r'<p id="no-unknown-check"[^>]*hidden>此模型没有“不认识的照片”检查。</p>', zh)
    en = client.get("/?lang=en").text
    assert _script_messages(en)[message] == message
    assert "Unknown-photo check not available for this model." in en


def test_script_shows_the_unknown_verdict_from_the_api():
    """The script reads the API's `unknown` (true / false / null) and fills the message with the top guess."""
    script = (WEBAPP / "static" / "predict.js").read_text(encoding="utf-8")
    assert "data.unknown === true" in script and "data.unknown === null" in script
    assert "This photo doesn't look like any animal I know — closest: %(label)s %(percent)s" in script
    assert '$("unknown")' in script and '$("no-unknown-check")' in script
