"""What an administrator decided while reviewing a dataset: pictures kept, the undo list, "done".

Stored in `<dataset>/.review/decisions.json` (`ml.review.decisions_path`, read by `ml.review.read_decisions`,
so a pipeline job can see "done" without the web app) beside the suspects the review job found, written
atomically under a lock. The picture edits themselves (trash, move, their undoing) go through
`webapp.datasets.edit`, so they are logged in `.trash/edits.jsonl` like any other.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ml.files import write_json_atomic
from ml.review import decisions_path, read_decisions

#: How many review actions can be undone, newest first.
UNDO_DEPTH = 50

_lock = threading.Lock()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def changing(root: Path):
    """The decisions to change in place; written back when the block ends without an error."""
    with _lock:
        data = read_decisions(root)
        yield data
        data["undo"] = data["undo"][-UNDO_DEPTH:]
        write_json_atomic(decisions_path(root), data)
