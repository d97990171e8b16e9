"""The class folder side of a crawl: input checks, a lock, and fingerprints of what it already holds."""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imagehash

from ..images import HASH_TARGET, ImageError, is_image_name, load_image
from ..operations.names import clean_name
from .config import CrawlConfig
from .errors import CrawlError
from .manifest import Manifest

LOCK_NAME = ".crawl.lock"
_MAX_KEYWORD = 100


def check_keywords(keywords: list[str] | tuple[str, ...] | str) -> list[str]:
    """Trimmed, NFC-normalised, de-duplicated keywords; CrawlError when none is usable."""
    if isinstance(keywords, str):
        keywords = [keywords]
    words: list[str] = []
    for word in keywords or []:
        if not isinstance(word, str):
            raise CrawlError(f"Keywords must be text (got {word!r}).", code="bad_keyword")
        word = unicodedata.normalize("NFC", " ".join(word.split()))
        if len(word) > _MAX_KEYWORD:
            raise CrawlError(f"The keyword {word[:20]!r}… is longer than {_MAX_KEYWORD} characters.", code="bad_keyword")
        if word and word not in words:
            words.append(word)
    if not words:
        raise CrawlError("Give at least one keyword to search for, such as 猫 or cat.", code="bad_keyword")
    return words


def check_class_name(name: str) -> str:
    """A class name usable as one folder name on every system (the one rule, `ml.operations.names`), or CrawlError."""
    return clean_name(name, "The class name", error=CrawlError, code="bad_class_name")


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the class folder, so two crawls never write it at once."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only; elsewhere runs are not guarded
    except ImportError:
        yield
        return
    with (folder / LOCK_NAME).open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CrawlError(f"Another crawl is already filling {folder}; wait for it to finish.", code="busy") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class FolderIndex:
    """sha256 and perceptual hashes of the usable pictures in a class folder."""

    def __init__(self, max_bits: int):
        self.max_bits = max_bits
        self.by_sha: dict[str, str] = {}
        self.phashes: list[tuple[int, str]] = []
        self.files = 0

    def __len__(self) -> int:
        return self.files

    @classmethod
    def build(cls, folder: Path, manifest: Manifest, config: CrawlConfig) -> FolderIndex:
        """Fingerprint every picture in `folder`, reusing the manifest's hashes for files it saved."""
        index = cls(config.near_duplicate_bits)
        known: dict[str, dict[str, Any]] = {r["file"]: r for r in manifest.saved() if r.get("file")}
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part.startswith((".", "__")) for part in rel.parts) or not path.is_file() or not is_image_name(path):
                continue
            name = rel.as_posix()
            record = known.get(name)
            if record and record.get("size") == path.stat().st_size and record.get("phash"):
                index.add(name, record["sha256"], record["phash"])
                continue
            try:
                data = path.read_bytes()
                img = load_image(data, max_pixels=config.max_pixels, min_size=config.min_size, target=HASH_TARGET)
            except (ImageError, OSError):
                continue  # unusable files are `flask dataset scan`'s business; they just do not count
            index.add(name, hashlib.sha256(data).hexdigest(), str(imagehash.phash(img)))
        return index

    def add(self, name: str, sha256: str, phash: str) -> None:
        """Remember one usable picture file."""
        self.files += 1
        if sha256 in self.by_sha:
            return
        self.by_sha[sha256] = name
        self.phashes.append((int(phash, 16), name))

    def duplicate_of(self, sha256: str, phash: str) -> str | None:
        """The file that holds the same or a nearly identical picture, or None."""
        if sha256 in self.by_sha:
            return self.by_sha[sha256]
        value = int(phash, 16)
        for other, name in self.phashes:
            if (value ^ other).bit_count() <= self.max_bits:
                return name
        return None

