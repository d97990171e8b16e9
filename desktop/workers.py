"""Slow work off the GUI thread: QObject workers moved to a QThread, reporting through signals.

`TaskWorker` runs one callable (load a model, decode a picture, recognise, copy files) and emits
`finished(result)` or `failed(exception)`. `BatchWorker` classifies a folder chunk by chunk,
emitting rows and progress, and stops between chunks when `cancel()` is called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from ml.errors import Cancelled

from .batch import classify_files


class TaskWorker(QObject):
    """Runs `fn()` once on its thread; the outcome arrives as `finished(result)` or `failed(exc)`."""

    finished = pyqtSignal(object)
    failed = pyqtSignal(object)

    def __init__(self, fn: Callable[[], Any], tag: Any = None):
        super().__init__()
        self.fn = fn
        self.tag = tag

    @pyqtSlot()
    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - every failure must reach the GUI as a dialog
            self.failed.emit(exc)
        else:
            self.finished.emit(result)


class BatchWorker(QObject):
    """Classifies `files` in chunks; `rows(list)`, `progress(done, total)`, then `finished(rows)`."""

    rows = pyqtSignal(list)
    progress = pyqtSignal(int, int)
    finished = pyqtSignal(list)
    cancelled = pyqtSignal(list)
    failed = pyqtSignal(object)

    def __init__(self, predictor, files: Sequence[Path]):
        super().__init__()
        self.predictor = predictor
        self.files = list(files)
        self._stop = threading.Event()
        self._done: list = []

    def cancel(self) -> None:
        """Ask the worker to stop after the chunk it is on (safe to call from any thread)."""
        self._stop.set()

    def _on_rows(self, chunk: list) -> None:
        self._done.extend(chunk)
        self.rows.emit(chunk)

    @pyqtSlot()
    def run(self) -> None:
        try:
            result = classify_files(
                self.predictor,
                self.files,
                on_rows=self._on_rows,
                on_progress=lambda p: self.progress.emit(p.done, p.total),
                should_stop=self._stop.is_set,
            )
        except Cancelled:
            self.cancelled.emit(list(self._done))
        except Exception as exc:  # noqa: BLE001 - reported as a dialog, the window stays usable
            self.failed.emit(exc)
        else:
            self.finished.emit(result)


def start_in_thread(worker: QObject, parent: QObject) -> QThread:
    """Move `worker` to a new QThread owned by `parent` and start it; the thread quits when the worker ends."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    for name in ("finished", "failed", "cancelled"):
        signal = getattr(worker, name, None)
        if signal is not None:
            signal.connect(thread.quit)
    thread.start()
    return thread
