"""UI language choice and the translation catalogue."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string

from webapp import i18n
from webapp.i18n import _, lazy_gettext


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


def test_switch_url_keeps_other_arguments(lang_app):
    with lang_app.test_request_context("/datasets/x/?page=3&lang=zh"):
        assert i18n.switch_url("en") == "/datasets/x/?page=3&lang=en"
