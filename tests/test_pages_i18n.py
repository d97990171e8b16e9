"""UI language choice and the translation catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, render_template_string

from webapp import i18n
from webapp.i18n import _, lazy_gettext

TEMPLATES = Path(__file__).resolve().parent.parent / "webapp" / "templates"
#: Templates this module vouches for (the admin blueprint brings and checks its own strings).
OWN_TEMPLATES = ["base.html", "partials", "predict", "datasets"]


@pytest.fixture
def lang_app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    i18n.init_app(app)

    @app.get("/t")
    def show():
        return render_template_string("{{ current_lang }}|{{ _('Recognise') }}|{{ html_lang }}")

    return app


def test_accept_language_picks_language(lang_app):
    client = lang_app.test_client()
    assert client.get("/t", headers={"Accept-Language": "en-GB,en;q=0.9"}).text == "en|Recognise|en"
    assert client.get("/t", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text == "zh|识别|zh-CN"
    assert client.get("/t", headers={"Accept-Language": "fr-FR,en;q=0.5"}).text.startswith("en|")


def test_default_language_when_nothing_matches(lang_app):
    assert lang_app.test_client().get("/t", headers={"Accept-Language": "fr"}).text.startswith("zh|")
    lang_app.config["DEFAULT_LANGUAGE"] = "en"
    assert lang_app.test_client().get("/t").text.startswith("en|")


def test_switch_sets_cookie_that_wins_over_accept_language(lang_app):
    client = lang_app.test_client()
    response = client.get("/t?lang=en", headers={"Accept-Language": "zh-CN"})
    assert response.text.startswith("en|")
    assert "lang=en" in response.headers["Set-Cookie"]
    # The cookie alone now decides, whatever the browser prefers.
    assert client.get("/t", headers={"Accept-Language": "zh-CN"}).text.startswith("en|")
    assert client.get("/t?lang=zh").text.startswith("zh|")
    assert client.get("/t").text.startswith("zh|")


def test_unknown_switch_value_is_ignored(lang_app):
    response = lang_app.test_client().get("/t?lang=xx", headers={"Accept-Language": "en"})
    assert response.text.startswith("en|")
    assert "Set-Cookie" not in response.headers


def test_response_varies_on_language_inputs(lang_app):
    response = lang_app.test_client().get("/t")
    assert "Accept-Language" in response.headers["Vary"] and "Cookie" in response.headers["Vary"]


@pytest.mark.parametrize("value,expected", [("zh-Hans-CN", "zh"), ("zh_TW", "zh"), ("EN-us", "en"), ("de", None), ("", None), (None, None)])
def test_parse_lang(value, expected):
    assert i18n.parse_lang(value) == expected


def test_outside_a_request_text_is_english():
    assert _("Recognise") == "Recognise"
    assert _("Page %(page)s of %(pages)s", page=2, pages=5) == "Page 2 of 5"


def test_placeholders_and_lazy_text(lang_app):
    label = lazy_gettext("Datasets")
    with lang_app.test_request_context("/", headers={"Accept-Language": "zh"}):
        assert _("Page %(page)s of %(pages)s", page=2, pages=5) == "第 2 / 5 页"
        assert str(label) == "数据集"
        assert label.__html__() == "数据集"
    with lang_app.test_request_context("/?lang=en"):
        assert str(label) == "Datasets"


def test_unknown_message_falls_back_to_its_text(lang_app):
    with lang_app.test_request_context("/", headers={"Accept-Language": "zh"}):
        assert _("Nobody translated this %(x)s", x=1) == "Nobody translated this 1"


def test_add_translations_checks_language():
    i18n.add_translations("zh", {"A test-only phrase": "仅供测试的短语"})
    assert i18n.CATALOGUE["zh"]["A test-only phrase"] == "仅供测试的短语"
    with pytest.raises(ValueError):
        i18n.add_translations("fr", {"x": "y"})


def test_switch_url_keeps_other_arguments(lang_app):
    with lang_app.test_request_context("/datasets/x/?page=3&lang=zh"):
        assert i18n.switch_url("en") == "/datasets/x/?page=3&lang=en"


def _template_messages() -> set[str]:
    found: set[str] = set()
    pattern = re.compile(r"""_\(\s*(["'])((?:\\.|(?!\1).)*)\1""")
    for entry in OWN_TEMPLATES:
        path = TEMPLATES / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.html")):
            for match in pattern.finditer(file.read_text(encoding="utf-8")):
                found.add(match.group(2).replace("\\'", "'").replace('\\"', '"'))
    return found


def test_every_page_string_has_a_chinese_translation():
    from webapp.datasets.routes import EDIT_MESSAGES
    from webapp.predict.routes import SCRIPT_MESSAGES

    messages = _template_messages() | set(SCRIPT_MESSAGES) | set(EDIT_MESSAGES.values())
    assert len(messages) > 40  # the scan really found the pages' text
    missing = sorted(m for m in messages if m not in i18n.CATALOGUE["zh"])
    assert not missing, f"untranslated: {missing}"


def test_translations_keep_their_placeholders():
    for english, chinese in i18n.CATALOGUE["zh"].items():
        assert set(re.findall(r"%\(\w+\)s", english)) == set(re.findall(r"%\(\w+\)s", chinese)), english
