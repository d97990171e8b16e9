"""File helpers shared by the dataset scanner and the model files, and the one atomic write."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """A hidden temporary path beside `path`: renamed onto `path` when the block ends well, deleted otherwise.

    Write the whole file to the yielded path (`torch.save(obj, tmp)`, `fig.savefig(tmp)`, ...); readers
    of `path` see the old file or the new one, never half of one. `fsync` flushes it to disk first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    """Write `data` to `path` through `atomic_path`; return the path."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text (newlines as written) to `path` through `atomic_path`; return the path."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as JSON (non-ASCII kept readable) to `path` through `atomic_path`; return the path."""
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _sha256_of_version(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def file_sha256_cached(path: str | os.PathLike) -> str:
    """`file_sha256`, remembered per process until the file's size or modification time changes."""
    st = Path(path).stat()
    return _sha256_of_version(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
