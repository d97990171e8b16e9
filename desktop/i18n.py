"""UI language of the desktop client: Simplified Chinese and English from the web app's gettext catalogues.

Messages are keyed by their English text, as in the web app; a missing translation falls back to
that text, so the window never shows a blank. The starting language follows the system locale
(`QLocale`), and a choice made in the Language menu is remembered in the settings.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path
from typing import Any

#: Languages the client speaks; names as shown in the Language menu.
LANGUAGES = ("zh", "en")
LANGUAGE_NAMES = {"zh": "简体中文", "en": "English"}

#: The gettext catalogues shared with the web app (translations/<lang>/LC_MESSAGES/messages.mo).
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def N_(message: str) -> str:
    """Mark text for `pybabel extract` where it is stored now and translated later."""
    return message


#: Short explanations for error codes from ml.images / ml.predict, shown above the detail line.
ERROR_SUMMARIES = {
    "empty": N_("The file is empty."),
    "not_image": N_("This file is not a picture."),
    "truncated": N_("The picture is truncated or corrupt."),
    "too_many_pixels": N_("The picture is too large to open safely."),
    "too_small": N_("The picture is too small to recognise."),
    "not_found": N_("The file does not exist."),
    "unreadable": N_("The file cannot be read."),
    "model_missing": N_("The model file does not exist."),
    "model_corrupt": N_("The model file is damaged or not a model."),
    "model_incompatible": N_("The model file was made by an incompatible version."),
}

@functools.cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue for `lang` (an empty one when it is missing, so text stays English)."""
    return gettext.translation("messages", str(TRANSLATIONS_DIR), languages=[lang], fallback=True)


def tr(text: str, lang: str, **params: Any) -> str:
    """Translate English `text` into `lang` and fill `%(name)s` placeholders; unknown text stays English."""
    out = catalogue(lang).gettext(text) if text else text
    if not params:
        return out
    try:
        return out % params
    except (KeyError, ValueError, TypeError):
        return text % params


def percent(p: float) -> str:
    """A probability as a percentage that never claims certainty it rounds to (>99.9%, <0.1%)."""
    if p >= 0.9995:
        return ">99.9%"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{p:.1%}"


def language_for_locale(locale_name: str) -> str:
    """Pick the UI language for a locale name such as `zh_CN` or `en_US` (Chinese for any zh_*)."""
    return "zh" if locale_name.lower().startswith("zh") else "en"


def error_text(exc: BaseException, lang: str) -> str:
    """A readable message for an error: a translated summary for known codes, then the detail."""
    code = getattr(exc, "code", None)
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    summary = ERROR_SUMMARIES.get(code) if code else None
    return f"{tr(summary, lang)}\n\n{detail}" if summary else detail
