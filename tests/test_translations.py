"""The gettext catalogues: every marked string has zh and en entries, placeholders match, both UIs use them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]?\d*(?:\.\d+)?[diouxXeEfFgGcrs%]")


def _keywords() -> dict:
    """Babel's default keywords plus the Makefile's BABEL_KEYWORDS (one list for `make translations` and this test)."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    line = re.search(r"^BABEL_KEYWORDS := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    return {**DEFAULT_KEYWORDS, **{name: None for name in line.split()}}


def _used_messages() -> dict[str, str]:
    """msgid → first file using it, extracted from the code and templates as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords()
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, filename)
    return found


def _catalogue(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def test_every_used_message_has_chinese_and_english_entries():
    used = _used_messages()
    assert len(used) > 150  # the extraction really walked the web app, its templates and the desktop
    assert {"Recognise", "Open image...", "Administrator login", "queued", "Page %(page)s of %(pages)s"} <= set(used)
    for lang in ("zh", "en"):
        catalogue = _catalogue(lang)
        missing = sorted(m for m in used if not (catalogue.get(m) and catalogue.get(m).string))
        fuzzy = sorted(m.id for m in catalogue if m.id and m.fuzzy)
        assert not missing, f"{lang}: no translation for {missing} (add it to its messages.po, then make translations)"
        assert not fuzzy, f"{lang}: fuzzy entries (check and unflag them): {fuzzy}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_translations_keep_their_placeholders(lang):
    catalogue = _catalogue(lang)
    assert not list(catalogue.check()), "babel's python-format checker found mismatches"
    for message in catalogue:
        if message.id:
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(PLACEHOLDER.findall(message.string)), message.id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_compiled_catalogue_matches_its_po(lang):
    """The committed .mo is what `make translations` compiles from the .po (nobody forgot to compile)."""
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in _catalogue(lang) if m.id and m.string and not m.fuzzy}
    assert compiled == source


def test_a_page_renders_in_chinese_and_english(client):
    zh = client.get("/", headers={"Accept-Language": "zh-CN"}).text
    en = client.get("/?lang=en").text
    zh_po, en_po = _catalogue("zh"), _catalogue("en")
    for msgid in ("What animal is this?", "Choose photo", "Skip to content"):
        assert zh_po.get(msgid).string in zh and zh_po.get(msgid).string not in en
        assert en_po.get(msgid).string in en
    assert "这是什么动物？" in zh and "What animal is this?" in en


def test_desktop_reads_the_same_catalogue():
    from desktop.i18n import TRANSLATIONS_DIR, tr

    assert TRANSLATIONS_DIR == TRANSLATIONS
    zh = _catalogue("zh")
    assert tr("Open image...", "zh") == zh.get("Open image...").string == "打开图片..."
    assert tr("Saved %(path)s", "zh", path="/x.csv") == "已保存 /x.csv"
    assert tr("Saved %(path)s", "en", path="/x.csv") == "Saved /x.csv"
    assert tr("Nobody translated this %(x)s", "zh", x=1) == "Nobody translated this 1"
