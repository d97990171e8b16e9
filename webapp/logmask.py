"""Passwords never reach a log line: `mask_url` for URLs we print, and a log record class that masks all.

`install()` makes every log record of the process (Flask, gunicorn, RQ, SQLAlchemy, our own) mask
credentials in URLs (`redis://:secret@host` → `redis://:***@host`) in its message and in the
traceback text a formatter adds.
"""

from __future__ import annotations

import logging
import re

#: `scheme://user:password@` (the user part may be empty, as in `redis://:password@host`).
_CREDENTIALS = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^\s/]+)(?P<tail>@)")
#: `?password=...` / `&password=...` in a URL's query (redis-py accepts the password there too).
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<secret>[^&#\s]+)", re.IGNORECASE)
MASK = "***"


def mask_secrets(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***."""
    if "://" not in text:
        return text
    text = _CREDENTIALS.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def mask_url(url: str | None) -> str:
    """A URL fit to print: its password replaced by *** (None becomes an empty string)."""
    return mask_secrets(str(url or ""))


class MaskedLogRecord(logging.LogRecord):
    """A log record whose message and formatted traceback never show a URL's password."""

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return mask_secrets(super().getMessage())

    @property
    def exc_text(self) -> str | None:
        return self.__dict__.get("_exc_text")

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        # Formatters cache the formatted traceback here; mask it once, on the way in.
        self.__dict__["_exc_text"] = mask_secrets(value) if value else value


def install() -> None:
    """Make every log record created in this process a MaskedLogRecord (idempotent)."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(MaskedLogRecord)
