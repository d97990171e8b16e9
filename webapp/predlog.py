"""The prediction log, written off the request path: rows queue in memory and a thread inserts them in batches.

A request only appends a small dict (and, with LOG_PREDICTION_IMAGES, the upload's bytes) to a
bounded queue; one writer thread per process inserts everything queued every
PREDICTION_LOG_INTERVAL seconds in a single transaction. A slow or locked database therefore
delays the log, never the answer. When the queue is full (the database has been gone for a long
while) new rows are dropped and counted, so memory stays bounded. `flush()` writes what is
queued now (tests, shutdown); the process writes the rest when it exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

#: Rows waiting at most; beyond this the newest are dropped (and counted in `dropped`).
MAX_QUEUED = 10_000
#: Rows inserted in one transaction at most.
MAX_BATCH = 500


class PredictionLogWriter:
    """Collects prediction log rows and writes them in batches from one background thread."""

    def __init__(self, app: Flask):
        self.app = app
        self.interval = float(app.config["PREDICTION_LOG_INTERVAL"])
        self.rows: queue.Queue[dict[str, Any]] = queue.Queue(MAX_QUEUED)
        self.dropped = 0
        self.written = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._wake = threading.Event()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (`model_version_id`, `top_label`, `probability`, `latency_ms`, optional `image_bytes`)."""
        self._ensure_thread()
        try:
            self.rows.put_nowait(row)
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("prediction log queue full: %d rows dropped so far (is the database down?)", self.dropped)

    def flush(self) -> int:
        """Write every row queued so far, now, in this thread; return how many were written."""
        return self._write_pending()

    # -- the writer thread ----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        # gunicorn forks workers after the app is built: each process needs a thread of its own.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._write_pending()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                log.exception("prediction log writer failed; will retry")
                time.sleep(self.interval)

    def _take(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self.rows.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_pending(self) -> int:
        total = 0
        with self._write_lock:
            while batch := self._take():
                self._insert(batch)
                total += len(batch)
        return total

    def _insert(self, batch: list[dict[str, Any]]) -> None:
        from .extensions import db
        from .models import PredictionLog

        with self.app.app_context():
            records = [self._record(row) for row in batch]
            try:
                db.session.execute(db.insert(PredictionLog), records)
                db.session.commit()
                self.written += len(records)
            except Exception as exc:  # noqa: BLE001 - a lost log batch must not take the site down
                db.session.rollback()
                self.dropped += len(records)
                log.warning("could not write %d prediction log rows: %s", len(records), exc)
            finally:
                db.session.remove()

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        data = row.pop("image_bytes", None)
        if data is not None:
            folder = Path(self.app.instance_path) / "predictions"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{uuid.uuid4().hex}.img"
            target.write_bytes(data)
            row["image_path"] = str(target)
        return row


def writer(app: Flask) -> PredictionLogWriter:
    """The app's prediction log writer (one per app and process)."""
    found = app.extensions.get("animals_prediction_log")
    if found is None:
        found = app.extensions["animals_prediction_log"] = PredictionLogWriter(app)
    return found


def flush(app: Flask) -> int:
    """Write every queued prediction log row of `app` now; return how many."""
    return writer(app).flush()
