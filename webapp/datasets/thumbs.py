"""Thumbnails made once per picture version and cached on disk (keyed by real path, mtime, size).

A picture that cannot be decoded gets a small marker file instead, so a broken file costs one
decode attempt, not one per page view. Writes go through a temporary name and a rename, so
concurrent workers never serve half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ml.files import atomic_path, write_bytes_atomic
from ml.images import ImageError, load_image

#: Longest side of a thumbnail in pixels (about twice the grid cell, for sharp phone screens).
DEFAULT_THUMB_SIZE = 256
JPEG_QUALITY = 82


def cache_key(source: Path, size: int) -> str:
    """A name that changes whenever the picture's content is likely to have changed."""
    st = source.stat()
    raw = f"{os.path.realpath(source)}\0{st.st_mtime_ns}\0{st.st_size}\0{size}"
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()


def thumbnail(source: Path, cache_dir: str | os.PathLike, size: int = DEFAULT_THUMB_SIZE) -> Path | None:
    """Path of the cached JPEG thumbnail of `source` (made now if needed), or None if undecodable."""
    key = cache_key(source, size)
    target = Path(cache_dir) / key[:2] / f"{key}.jpg"
    bad_marker = target.with_suffix(".bad")
    if target.exists():
        return target
    if bad_marker.exists():
        return None
    try:
        image = load_image(source, min_size=1, target=size)
    except ImageError as exc:
        reason = exc.code.encode()
        write_bytes_atomic(bad_marker, reason)
        return None
    image.thumbnail((size, size))
    with atomic_path(target) as tmp:
        image.save(tmp, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return target
