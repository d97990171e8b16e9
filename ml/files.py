"""File helpers shared by the dataset scanner and the model files."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


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
