"""Scan a dataset: count usable pictures, move unreadable ones aside, find duplicates."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import imagehash
import numpy as np

from ..files import file_sha256
from ..images import HASH_TARGET, ImageError, decode_image
from ..progress import ProgressFn, StopFn, check_stop, report
from .layout import REJECTED_DIR, list_class_files, list_classes, read_metadata, require_dataset, update_metadata

#: Two pictures whose 64-bit perceptual hashes differ in at most this many bits are near duplicates.
#: Re-encoding, resizing and mild recompression stay within 0-4 bits; different photos of the
#: same kind of animal are typically 20+ bits apart (see docs/data.md for the measurement).
NEAR_DUPLICATE_BITS = 6
REJECTED_LOG = "rejected.jsonl"


@dataclass
class ScanReport:
    """What a scan found. Paths are relative to the dataset root, POSIX style."""

    root: str
    classes: dict[str, int]
    rejected: list[dict[str, str]]
    exact_duplicates: list[list[str]]
    near_duplicates: list[list[str]]
    cross_class_groups: list[list[str]]
    empty_classes: list[str]
    ignored: list[str]
    files: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)

    @property
    def usable(self) -> int:
        return sum(self.classes.values())

    def groups(self) -> list[list[str]]:
        """Every usable file in exactly one group; duplicates (exact or near) share a group."""
        return _components(self.files, self.exact_duplicates + self.near_duplicates)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary without the per-file cache."""
        reasons: dict[str, int] = {}
        for item in self.rejected:
            reasons[item["code"]] = reasons.get(item["code"], 0) + 1
        return {
            "root": self.root,
            "classes": self.classes,
            "usable": self.usable,
            "rejected": len(self.rejected),
            "rejected_by_reason": reasons,
            "exact_duplicate_groups": len(self.exact_duplicates),
            "near_duplicate_groups": len(self.near_duplicates),
            "cross_class_groups": len(self.cross_class_groups),
            "empty_classes": self.empty_classes,
            "ignored": self.ignored,
        }


def _move_rejected(base: Path, rel: str, error: ImageError) -> str:
    """Move one unreadable file under .rejected/<class>/ and log why; return its new path."""
    target = base / REJECTED_DIR / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        target = target.with_name(f"{stem}.{n}{suffix}")
        n += 1
    shutil.move(str(base / rel), str(target))
    moved = target.relative_to(base).as_posix()
    entry = {
        "original": rel,
        "moved_to": moved,
        "code": error.code,
        "reason": error.message,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with (base / REJECTED_DIR / REJECTED_LOG).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return moved


def duplicate_groups(files: dict[str, dict[str, Any]], max_bits: int = NEAR_DUPLICATE_BITS) -> tuple[list[list[str]], list[list[str]]]:
    """Exact-duplicate groups (same sha256) and near-duplicate groups (phash within max_bits)."""
    by_sha: dict[str, list[str]] = {}
    for rel, rec in files.items():
        by_sha.setdefault(rec["sha256"], []).append(rel)
    exact = sorted(sorted(g) for g in by_sha.values() if len(g) > 1)

    # One representative per distinct content; compare all pairs of 64-bit hashes at once.
    reps = sorted(min(g) for g in by_sha.values())
    if len(reps) < 2:
        return exact, []
    hashes = np.array([int(files[r]["phash"], 16) for r in reps], dtype=np.uint64)
    pairs: list[tuple[str, str]] = []
    for i in range(len(reps) - 1):
        xor = hashes[i] ^ hashes[i + 1 :]
        bits = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for j in np.nonzero(bits <= max_bits)[0]:
            pairs.append((reps[i], reps[i + 1 + int(j)]))
    near_reps = _components({r: {} for r in reps}, [list(p) for p in pairs])
    members = {min(g): g for g in by_sha.values()}
    near = sorted(sorted(rel for rep in comp for rel in members[rep]) for comp in near_reps if len(comp) > 1)
    return exact, near


def _components(files: dict[str, Any], linked: list[list[str]]) -> list[list[str]]:
    """Connected components (union-find) of `files`, where each list in `linked` joins its members."""
    parent = {rel: rel for rel in files}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in linked:
        members = [g for g in group if g in parent]
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    comps: dict[str, list[str]] = {}
    for rel in files:
        comps.setdefault(find(rel), []).append(rel)
    return sorted(sorted(c) for c in comps.values())


def scan(
    root: str | os.PathLike,
    *,
    move_rejected: bool = True,
    near_duplicate_bits: int = NEAR_DUPLICATE_BITS,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> ScanReport:
    """Check every file of every class; move unreadable ones to .rejected/ and report duplicates."""
    base = require_dataset(root)
    classes = list_classes(base)
    ignored = sorted(p.name for p in base.iterdir() if p.is_file() and not p.name.startswith("."))
    cache: dict[str, dict[str, Any]] = read_metadata(base).get("files", {})
    todo = [(cls, rel) for cls in classes for rel in list_class_files(base, cls)]
    files: dict[str, dict[str, Any]] = {}
    rejected: list[dict[str, str]] = []
    report(on_progress, "scan", 0, len(todo))
    for done, (cls, rel) in enumerate(todo, 1):
        check_stop(should_stop)
        path = base / rel
        st = path.stat()
        cached = cache.get(rel)
        if cached and cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns:
            files[rel] = cached
        else:
            try:
                decoded = decode_image(path, target=HASH_TARGET)
            except ImageError as exc:
                moved = _move_rejected(base, rel, exc) if move_rejected else rel
                rejected.append({"path": rel, "moved_to": moved, "code": exc.code, "reason": exc.message})
                report(on_progress, "scan", done, len(todo), file=rel)
                continue
            files[rel] = {
                "class": cls,
                "sha256": file_sha256(path),
                "phash": str(imagehash.phash(decoded.image)),
                "width": decoded.width,
                "height": decoded.height,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
            }
        report(on_progress, "scan", done, len(todo), file=rel)

    counts = {cls: 0 for cls in classes}
    for rec in files.values():
        counts[rec["class"]] += 1
    exact, near = duplicate_groups(files, near_duplicate_bits)
    all_groups = _components(files, exact + near)
    cross = [g for g in all_groups if len({files[r]["class"] for r in g}) > 1]
    result = ScanReport(
        root=str(base),
        classes=counts,
        rejected=rejected,
        exact_duplicates=exact,
        near_duplicates=near,
        cross_class_groups=cross,
        empty_classes=[c for c, n in counts.items() if n == 0],
        ignored=ignored,
        files=files,
    )
    update_metadata(
        base,
        classes=classes,
        files=files,
        duplicates={"exact": exact, "near": near},
        scan={
            **result.summary(),
            "near_duplicate_bits": near_duplicate_bits,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return result
