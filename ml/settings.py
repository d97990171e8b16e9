"""Building settings dataclasses from plain dicts (JSON from a job or a form) with clear refusals."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from .errors import MLError

T = TypeVar("T")


def from_known_fields(cls: type[T], data: dict[str, Any], *, what: str, error: type[MLError] = MLError) -> T:
    """`cls(**data)`, but a key that `cls` does not have raises `error` (code bad_config) naming it."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"Unknown {what}: {', '.join(unknown)}.", code="bad_config")
    return cls(**data)
