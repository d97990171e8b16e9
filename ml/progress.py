"""One progress record and helpers shared by every long-running step of the pipeline.

Long functions take `on_progress` (called with a `Progress`) and `should_stop` (returns True
to cancel). Callers adapt them: tqdm on the CLI, `job.meta` in workers, signals in Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Cancelled


@dataclass
class Progress:
    """Where a long operation stands: `stage` name, `done` of `total` units, extra `info`."""

    stage: str
    done: int
    total: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return (self.done / self.total) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fraction": round(self.fraction, 4)}


ProgressFn = Callable[[Progress], None]
StopFn = Callable[[], bool]


def report(on_progress: ProgressFn | None, stage: str, done: int, total: int, **info: Any) -> None:
    """Send one progress record if a callback was given."""
    if on_progress is not None:
        on_progress(Progress(stage, done, total, info))


def check_stop(should_stop: StopFn | None) -> None:
    """Raise `Cancelled` when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled("Stopped on request.")
