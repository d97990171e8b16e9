"""Helpers for commands: tqdm progress from ml callbacks, tables, and readable failures."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

import click
from tqdm import tqdm

from ml.errors import MLError
from ml.progress import Progress


class TqdmProgress:
    """An `on_progress` callback that draws one tqdm bar per stage on stderr."""

    def __init__(self, unit: str = "img"):
        self.unit = unit
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, p: Progress) -> None:
        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            self.bar = tqdm(total=p.total, desc=p.stage, unit=self.unit, file=sys.stderr, dynamic_ncols=True)
        assert self.bar is not None
        if p.total != self.bar.total:
            self.bar.total = p.total
        self.bar.n = p.done
        postfix = {k: v for k, v in p.info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if postfix:
            self.bar.set_postfix({k: round(v, 4) if isinstance(v, float) else v for k, v in postfix.items()}, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def progress_bars(unit: str = "img") -> Iterator[TqdmProgress]:
    """Yield a tqdm-backed progress callback and close its bar on exit."""
    bars = TqdmProgress(unit)
    try:
        yield bars
    finally:
        bars.close()


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn pipeline errors into a one-line message and exit status 1 instead of a traceback."""
    try:
        yield
    except MLError as exc:
        raise click.ClickException(exc.message) from None
    except KeyboardInterrupt:
        raise click.ClickException("Interrupted.") from None


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table (wide characters such as 猫 count as two columns)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
