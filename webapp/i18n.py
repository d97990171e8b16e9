"""UI language: Simplified Chinese and English, from a small in-code catalogue (no .mo files).

The language of a request is, in order: a `?lang=` switch (remembered in a `lang` cookie), the
`lang` cookie, the browser's Accept-Language, the `DEFAULT_LANGUAGE` setting. Messages are keyed
by their English text; a missing translation falls back to that text, so a page never breaks.

Use `_("...")` in Python and in Jinja templates, `lazy_gettext` for text built at import time
(form labels), and `add_translations("zh", {...})` from a blueprint to bring its own strings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, has_request_context, request

#: Languages the UI speaks, first = fallback when nothing else decides.
LANGUAGES = ("zh", "en")
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
#: `<html lang>` values.
HTML_LANG = {"zh": "zh-CN", "en": "en"}
COOKIE_NAME = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

#: English text → translation. English needs no entries (the key is the text).
CATALOGUE: dict[str, dict[str, str]] = {
    "zh": {
        # navigation and layout
        "Animal recogniser": "动物识别",
        "Recognise": "识别",
        "Datasets": "数据集",
        "Admin": "管理",
        "Log in": "登录",
        "Log out": "退出",
        "Language": "语言",
        "Skip to content": "跳到正文",
        "Works offline, no data leaves this server.": "离线可用，图片不会离开本服务器。",
        # generic words
        "Back": "返回",
        "Cancel": "取消",
        "Save": "保存",
        "Delete": "删除",
        "Rename": "重命名",
        "Move": "移动",
        "Close": "关闭",
        "Previous": "上一页",
        "Next": "下一页",
        "Page %(page)s of %(pages)s": "第 %(page)s / %(pages)s 页",
        "Error": "错误",
        "Not found": "未找到",
        "Something went wrong.": "出错了。",
        # public recognition page
        "What animal is this?": "这是什么动物？",
        "Choose a photo, drop one here, or paste it.": "选择一张照片、拖到这里，或直接粘贴。",
        "Choose photo": "选择照片",
        "Take photo": "拍照",
        "Recognise it": "开始识别",
        "Recognising…": "识别中…",
        "Drop the picture here": "把图片放到这里",
        "Preview": "预览",
        "Result": "结果",
        "Top guesses": "最可能的结果",
        "Model": "模型",
        "Time taken": "用时",
        "%(ms)s ms": "%(ms)s 毫秒",
        "Largest file: %(size)s": "文件最大 %(size)s",
        "This page needs JavaScript to upload pictures.": "此页面需要启用 JavaScript 才能上传图片。",
        "No model has been trained yet. An administrator must train and activate one first.":
            "还没有可用的模型。请管理员先训练并启用一个模型。",
        "This file is not a picture. Please choose a JPEG, PNG, WebP, GIF or BMP image.":
            "这个文件不是图片。请选择 JPEG、PNG、WebP、GIF 或 BMP 图片。",
        "The file is empty.": "文件是空的。",
        "The picture is damaged or incomplete.": "图片已损坏或不完整。",
        "The picture is too small to recognise.": "图片太小，无法识别。",
        "The picture has too many pixels.": "图片像素太多。",
        "The file is too large. The limit is %(size)s.": "文件太大，上限为 %(size)s。",
        "Please choose a picture first.": "请先选择一张图片。",
        "Too many requests. Please wait a moment and try again.": "请求太频繁，请稍后再试。",
        "The server could not be reached. Please try again.": "无法连接服务器，请重试。",
        "The model could not be loaded.": "模型无法加载。",
        # datasets
        "No datasets yet.": "还没有数据集。",
        "Dataset": "数据集",
        "Class": "类别",
        "Classes": "类别",
        "Images": "图片",
        "images": "张图片",
        "Split": "划分",
        "not split": "未划分",
        "This class has no images.": "这个类别没有图片。",
        "Image": "图片",
        "File": "文件",
        "Size": "尺寸",
        "Bytes": "字节",
        "Modified": "修改时间",
        "Original": "原图",
        "Delete this image? It is moved to the dataset's trash folder, not erased.":
            "删除这张图片？它会被移到数据集的回收站文件夹，而不是被彻底删除。",
        "Move to class": "移到类别",
        "New class name": "新类别名",
        "Image moved to the trash folder.": "图片已移到回收站文件夹。",
        "Image moved to %(cls)s.": "图片已移到 %(cls)s。",
        "Class renamed to %(cls)s.": "类别已重命名为 %(cls)s。",
        "Manage (administrators)": "管理（管理员）",
        "changed since": "之后有改动",
        "Images were changed after the last split. Split again before training for a fresh, leakage-checked split.":
            "上次划分之后图片有改动。训练前请重新划分，以得到新的、经过泄漏检查的划分。",
        "This dataset has no class folders yet.": "这个数据集还没有类别文件夹。",
        "The image is already in class %(cls)s.": "图片已经在类别 %(cls)s 中。",
        "The new name is the same as the old one.": "新名称与旧名称相同。",
        "Enter the new class name.": "请输入新的类别名。",
        "Someone changed this meanwhile. Reload the page and try again.": "其他人刚刚修改了这里。请刷新页面后重试。",
        "The server could not move the file (%(detail)s).": "服务器无法移动文件（%(detail)s）。",
        "There is already a class named %(cls)s.": "已经有名为 %(cls)s 的类别。",
        "%(cls)s cannot be a class name: use words without '/', '\\' or a leading dot.":
            "%(cls)s 不能作为类别名：不能包含 “/”、“\\”，也不能以点开头。",
    },
}


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


def add_translations(lang: str, messages: dict[str, str]) -> None:
    """Add or override translations for `lang` (each blueprint may bring its own strings)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; expected one of {LANGUAGES}")
    CATALOGUE.setdefault(lang, {}).update(messages)


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
    lang = get_language()
    text = message if lang == "en" else CATALOGUE.get(lang, {}).get(message, message)
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
    app.jinja_env.globals.update(_=gettext, gettext=gettext, lazy_gettext=lazy_gettext, nav_url=nav_url)
    app.context_processor(_template_context)
    app.after_request(_remember_switch)
