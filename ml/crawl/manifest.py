"""The per-class crawl manifest: one JSON line per result handled, so a re-run resumes where it stopped."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..files import write_bytes_atomic

MANIFEST_NAME = ".manifest.jsonl"
#: Statuses that settle a result for good: a re-run does not fetch it again.
FINAL_STATUSES = frozenset({"saved", "duplicate", "rejected"})


class Manifest:
    """Append-only record of every result handled for one class folder.

    Lines are written only after the picture file is in place, one whole line per write, so an
    interrupted run leaves at most a torn last line (skipped on reading) and never a line for a file
    that is not there.
    """

    def __init__(self, folder: Path):
        self.path = folder / MANIFEST_NAME
        self.records: list[dict[str, Any]] = []
        self.known_urls: set[str] = set()
        self.damaged_lines = 0
        self._torn_tail = False
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        # A run killed mid-write leaves a last line without its newline: start the next one afresh.
        self._torn_tail = bool(text) and not text.endswith("\n")
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                self.damaged_lines += 1
                continue
            if isinstance(record, dict) and record.get("status") in FINAL_STATUSES:
                self._remember(record)

    def _remember(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        for url in [record.get("url"), *(record.get("tried") or [])]:
            if isinstance(url, str) and url:
                self.known_urls.add(url)

    def saved(self) -> list[dict[str, Any]]:
        """Records of pictures this crawler saved (the files may since have been deleted)."""
        return [r for r in self.records if r.get("status") == "saved"]

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add one record (stamped with the time) and flush it to disk."""
        record = {**record, "time": datetime.now(UTC).isoformat(timespec="seconds")}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        if self._torn_tail:
            line = "\n" + line
            self._torn_tail = False
        # Flushed, not fsynced: a line lost to a power cut only costs re-downloading a picture the
        # folder already holds, which the sha256 check then skips.
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
        self._remember(record)
        return record


def write_partial(folder: Path, data: bytes) -> Path:
    """Write `data` to a hidden temporary file in `folder`, flushed to disk; rename it to keep it."""
    fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to `folder/name` through a hidden temporary file (flushed to disk) and a rename."""
    return write_bytes_atomic(folder / name, data, fsync=True)


def remove_partial_files(folder: Path) -> int:
    """Delete temporary files an interrupted run left behind; return how many."""
    removed = 0
    for path in folder.glob(".part-*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
