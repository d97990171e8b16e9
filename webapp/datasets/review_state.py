"""What an administrator decided while reviewing a dataset: pictures kept, the undo list, "done".

Stored in `<dataset>/.review/decisions.json` beside the suspects the review job found
(`ml.review`), written atomically under a lock. The picture edits themselves (trash, move, their
undoing) go through `webapp.datasets.edit`, so they are logged in `.trash/edits.jsonl` like any other.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.files import write_json_atomic
from ml.review import REVIEW_DIR

DECISIONS_FILE = "decisions.json"
#: How many review actions can be undone, newest first.
UNDO_DEPTH = 50

_lock = threading.Lock()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def decisions_path(root: Path) -> Path:
    """`<dataset>/.review/decisions.json`."""
    return root / REVIEW_DIR / DECISIONS_FILE


def read_decisions(root: Path) -> dict[str, Any]:
    """`{"kept": {path: {time, user}}, "undo": [action, ...], "done": {time, user} | None}`."""
    try:
        data = json.loads(decisions_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    kept = data.get("kept") if isinstance(data.get("kept"), dict) else {}
    undo = data.get("undo") if isinstance(data.get("undo"), list) else []
    return {"kept": kept, "undo": undo, "done": data.get("done")}


@contextmanager
def changing(root: Path):
    """The decisions to change in place; written back when the block ends without an error."""
    with _lock:
        data = read_decisions(root)
        yield data
        data["undo"] = data["undo"][-UNDO_DEPTH:]
        write_json_atomic(decisions_path(root), data)
