"""Split a scanned dataset into train/val/test lists: stratified, seeded, leakage-free."""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import DatasetError
from ..progress import ProgressFn, StopFn
from .layout import CLASSES_FILE, SPLIT_FILES, require_dataset, update_metadata, write_json_atomic, write_text_atomic
from .scan import ScanReport, scan


@dataclass
class SplitReport:
    """Counts per class and part, the fingerprint of the lists, and leakage checks."""

    root: str
    classes: list[str]
    counts: dict[str, dict[str, int]]
    seed: int
    test: float
    val: float
    fingerprint: str
    groups_across_parts: int
    scan: ScanReport

    def summary(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "counts": self.counts,
            "seed": self.seed,
            "test": self.test,
            "val": self.val,
            "fingerprint": self.fingerprint,
            "groups_across_parts": self.groups_across_parts,
        }


def _check_fractions(test: float, val: float) -> None:
    if not 0 < test < 1:
        raise DatasetError(f"Test fraction must be between 0 and 1, got {test}.", code="bad_fraction")
    if not 0 <= val < 1 or test + val >= 1:
        raise DatasetError(
            f"Validation fraction {val} plus test fraction {test} must leave images for training.",
            code="bad_fraction",
        )


def _assign(groups: list[list[str]], n_files: int, test: float, val: float, rng: random.Random) -> dict[str, list[list[str]]]:
    """Deal whole groups into parts so each part gets about its share of the class's files."""
    order = groups[:]
    rng.shuffle(order)
    # Larger groups first (stable, so equal sizes keep the seeded order): a big duplicate
    # cluster is placed while shares are still open instead of overshooting one at the end.
    order.sort(key=len, reverse=True)
    remaining = {"test": max(1, round(n_files * test)), "val": max(1, round(n_files * val)) if val > 0 else 0}
    parts: dict[str, list[list[str]]] = {"test": [], "val": [], "train": []}
    for group in order:
        # A group goes to a part when doing so brings that part closer to its share than not.
        target = next((p for p in ("test", "val") if remaining[p] * 2 >= len(group) and remaining[p] > 0), "train")
        parts[target].append(group)
        if target != "train":
            remaining[target] -= len(group)
    # Every part that was asked for gets at least one group, and train is never left empty.
    for part in ("test", "val"):
        wanted = test if part == "test" else val
        if wanted > 0 and not parts[part]:
            donor = min(parts["train"], key=len)
            parts["train"].remove(donor)
            parts[part].append(donor)
    if not parts["train"]:
        donor_part = max(("test", "val"), key=lambda p: len(parts[p]))
        donor = min(parts[donor_part], key=len)
        parts[donor_part].remove(donor)
        parts["train"].append(donor)
    return parts


def split(
    root: str | os.PathLike,
    *,
    test: float = 0.2,
    val: float = 0.0,
    seed: int = 0,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> SplitReport:
    """Scan, then write train.txt/test.txt (and val.txt) plus classes.json; same seed, same files."""
    _check_fractions(test, val)
    base = require_dataset(root)
    scanned = scan(base, on_progress=on_progress, should_stop=should_stop)
    classes = list(scanned.classes)
    if not classes:
        raise DatasetError(
            f"{base} has no class folders: put each class's pictures in its own subfolder.",
            code="no_classes",
        )
    if len(classes) < 2:
        raise DatasetError(f"{base} has only one class ({classes[0]}); a classifier needs at least two.", code="one_class")
    needed = 3 if val > 0 else 2
    label = {c: i for i, c in enumerate(classes)}
    # A group spanning classes goes with its most common class so it lands in one part only.
    by_class: dict[str, list[list[str]]] = {c: [] for c in classes}
    for group in scanned.groups():
        owner = Counter(scanned.files[r]["class"] for r in group).most_common(1)[0][0]
        by_class[owner].append(group)
    for cls in classes:
        n_groups = len(by_class[cls])
        if n_groups < needed:
            n = scanned.classes[cls]
            extra = f" ({n} pictures, but duplicates count once)" if n >= needed else ""
            raise DatasetError(
                f"Class '{cls}' has only {n_groups} distinct usable picture(s){extra}; at least {needed} "
                f"are needed to split into {'train/val/test' if val > 0 else 'train/test'}. "
                "Add pictures to it or remove the folder.",
                code="too_few_images",
            )

    rows: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    counts: dict[str, dict[str, int]] = {}
    for cls in classes:
        rng = random.Random(f"{seed}:{cls}")
        groups = by_class[cls]
        parts = _assign(groups, sum(map(len, groups)), test, val, rng)
        counts[cls] = {}
        for part, part_groups in parts.items():
            members = sorted(r for g in part_groups for r in g)
            rows[part].extend((r, label[scanned.files[r]["class"]]) for r in members)
        for part in rows:
            counts[cls][part] = sum(1 for g in parts[part] for r in g if scanned.files[r]["class"] == cls)

    where = {r: part for part, items in rows.items() for r, _ in items}
    leaks = sum(1 for g in scanned.groups() if len({where[r] for r in g}) > 1)
    digest = hashlib.sha256()
    for part in ("train", "val", "test"):
        rows[part].sort()
        for rel, idx in rows[part]:
            digest.update(f"{part}\t{rel}\t{idx}\t{scanned.files[rel]['sha256']}\n".encode())
    fingerprint = digest.hexdigest()[:16]

    write_json_atomic(base / CLASSES_FILE, classes)
    for part, name in SPLIT_FILES.items():
        path = base / name
        if part == "val" and not rows["val"]:
            path.unlink(missing_ok=True)
            continue
        write_text_atomic(path, "".join(f"{rel}\t{idx}\n" for rel, idx in rows[part]))
    result = SplitReport(
        root=str(base),
        classes=classes,
        counts=counts,
        seed=seed,
        test=test,
        val=val,
        fingerprint=fingerprint,
        groups_across_parts=leaks,
        scan=scanned,
    )
    update_metadata(base, split={**result.summary(), "time": datetime.now(UTC).isoformat(timespec="seconds")})
    return result
