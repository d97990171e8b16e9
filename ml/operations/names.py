"""The one rule for dataset and class names: one plain, visible folder name on every system.

The web validator (`webapp.tasks`), the dataset pages (`webapp.datasets.paths`), the dataset
listing and the crawler all call `check_name` (or `clean_name` for what a person typed), so a
name one accepts the others open: `__zoo` or `.hidden` is refused everywhere, `猫` or `a__b`
accepted everywhere. Torch-free.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from ..errors import MLError

#: Longest name, in characters.
MAX_NAME = 100
#: Characters no folder name may hold on some system (Windows refuses the printable ones).
FORBIDDEN = frozenset('/\\:*?"<>|\0')


class BadName(MLError):
    """A dataset or class name that is not one plain, visible folder name."""

    code = "bad_name"


def is_hidden(name: str) -> bool:
    """True for a name the pipeline does not look at (`.trash`, `.rejected`, `__MACOSX`): folders and files alike."""
    return name.startswith(".") or name.startswith("__")


def check_name(name: Any, what: str = "Name", *, error: type[MLError] = BadName, code: str | None = None) -> str:
    """`name` unchanged when it is one plain, visible folder name; else `error` (code `code`) saying why.

    Each layer raises its own typed error (the crawler a CrawlError, the dataset pages a 404) but
    applies this one rule.
    """
    text = name if isinstance(name, str) else ""
    if not text or is_hidden(text) or text != text.strip():
        raise error(f"{what} {text!r} is not a valid name (one folder name: not empty, no leading '.' or '__', "
                      "no spaces around it).", code=code)
    bad = sorted(set(text) & FORBIDDEN) + sorted({c for c in text if ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise error(f"{what} {text!r} is not a valid name: it contains characters not allowed in folder names: {shown}.",
                    code=code)
    if len(text) > MAX_NAME:
        raise error(f"{what} {text[:20]!r}… is not a valid name: longer than {MAX_NAME} characters.", code=code)
    return text


def is_name(name: Any) -> bool:
    """True when `name` passes `check_name` (for listings: a folder that fails it is not a dataset or class)."""
    try:
        check_name(name)
    except MLError:
        return False
    return True


def clean_name(value: Any, what: str = "Name", *, error: type[MLError] = BadName, code: str | None = None) -> str:
    """What a person typed, trimmed and NFC-normalised, then held to `check_name`."""
    text = unicodedata.normalize("NFC", value.strip()) if isinstance(value, str) else ""
    return check_name(text, what, error=error, code=code)
