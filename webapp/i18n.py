"""UI language: Simplified Chinese and English, from the gettext catalogues in translations/ (Flask-Babel).

The language of a request is, in order: a `?lang=` switch (remembered in a `lang` cookie), the
`lang` cookie, the browser's Accept-Language, the `DEFAULT_LANGUAGE` setting. Messages are keyed
by their English text; a missing translation falls back to that text, so a page never breaks.

Use `_("...")` in Python and in Jinja templates, `lazy_gettext` for text built at import time
(form labels) and `N_("...")` for text stored now and translated later; then `make translations`
(pybabel extract/update/compile) and fill the new entries in translations/*/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import flask_babel
from flask import Flask, g, has_request_context, request

#: Languages the UI speaks, first = fallback when nothing else decides.
LANGUAGES = ("zh", "en")
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
#: `<html lang>` values.
HTML_LANG = {"zh": "zh-CN", "en": "en"}
COOKIE_NAME = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

#: The gettext catalogues (one `messages` domain), shared with the desktop client.
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def N_(message: str) -> str:
    """Mark text for `pybabel extract` where it is stored now and translated later (`_(value)`)."""
    return message


class LazyString:
    """Text translated when it is rendered, not when it is created (for module-level labels)."""

    def __init__(self, message: str, **params: Any):
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return gettext(self.message, **self.params)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __repr__(self) -> str:
        return f"LazyString({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)


def parse_lang(value: str | None) -> str | None:
    """Map 'zh', 'zh-CN', 'zh_Hans', 'EN-gb'... to a supported language code, or None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def _default_language() -> str:
    from flask import current_app

    return parse_lang(current_app.config.get("DEFAULT_LANGUAGE")) or LANGUAGES[0]


def select_language() -> str:
    """The language for the current request: switch, cookie, Accept-Language, default."""
    for candidate in (request.args.get("lang"), request.cookies.get(COOKIE_NAME)):
        lang = parse_lang(candidate)
        if lang:
            return lang
    for value, _quality in request.accept_languages:
        lang = parse_lang(value)
        if lang:
            return lang
    return _default_language()


def get_language() -> str:
    """The language in force: the request's, or English outside a request (logs, CLI)."""
    if not has_request_context():
        return "en"
    lang = g.get("lang")
    if lang is None:
        lang = g.lang = select_language()
    return lang


def gettext(message: str, **params: Any) -> str:
    """Translate `message` into the current language and fill `%(name)s` placeholders."""
    text = flask_babel.gettext(message) if message else message
    if params:
        try:
            return text % params
        except (KeyError, ValueError, TypeError):
            return message % params
    return text


_ = gettext


def lazy_gettext(message: str, **params: Any) -> LazyString:
    """Like `_`, but translated each time it is shown."""
    return LazyString(message, **params)


def messages_for(keys: list[str] | tuple[str, ...]) -> dict[str, str]:
    """English key → current-language text, for handing UI strings to page scripts as JSON."""
    return {key: gettext(key) for key in keys}


def switch_url(lang: str) -> str:
    """The current URL with `?lang=` set to `lang` (other query arguments kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", lang))
    return f"{request.path}?{urlencode(args)}"


def _remember_switch(response):
    """Store an explicit `?lang=` choice in a cookie so it survives navigation."""
    lang = parse_lang(request.args.get("lang"))
    if lang and request.cookies.get(COOKIE_NAME) != lang:
        response.set_cookie(COOKIE_NAME, lang, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=False)
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    if "Content-Language" not in response.headers and response.mimetype == "text/html":
        response.headers["Content-Language"] = HTML_LANG[get_language()]
    return response


def nav_url(endpoint: str, **values: Any) -> str | None:
    """URL of `endpoint`, or None when no blueprint serves it (so the layout can hide the link)."""
    from flask import url_for
    from werkzeug.routing import BuildError

    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _template_context() -> dict[str, Any]:
    lang = get_language()
    return {
        "current_lang": lang,
        "html_lang": HTML_LANG[lang],
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "lang_switch_url": switch_url,
    }


def init_app(app: Flask) -> None:
    """Make `_` (and the layout's `nav_url`) available in templates; remember the language switch."""
    app.config.setdefault("DEFAULT_LANGUAGE", LANGUAGES[0])
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    # Our own `_` stays in templates (plain text, autoescaped like any value), not Jinja's i18n extension.
    flask_babel.Babel(app, locale_selector=get_language, configure_jinja=False)
    app.jinja_env.globals.update(_=gettext, gettext=gettext, lazy_gettext=lazy_gettext, nav_url=nav_url)
    app.context_processor(_template_context)
    app.after_request(_remember_switch)
