"""Pictures worth a second look, from what the last scan recorded (no decoding, no model).

    flag_files(read_metadata(root))  →  {"dog/0003.jpg": ["near_duplicate", "small"], ...}

The scan stores each usable file's size in pixels, its hashes and the duplicate groups it found in
dataset.json; this module only reads them: exact duplicates (same sha256), near duplicates
(perceptual hashes within the scan's bit limit), pictures too small to train on well, and odd
shapes (panoramas, banners, strips). A dataset.json written before the scan kept its groups has
them recomputed from the stored hashes (all pairs; see docs/benchmarks.md, bench/dataset_flags.py).
A file added or changed after the scan has no record and is not flagged until the next scan.
"""

from __future__ import annotations

from typing import Any

from .scan import NEAR_DUPLICATE_BITS, duplicate_groups

#: A shorter side below this is blown up more than 3x to a 224-pixel input: mostly blur.
SMALL_SIDE = 64
#: A longer side more than this many times the shorter one: a banner or a strip, rarely one animal.
ODD_RATIO = 3.0
#: Every reason, in the order a page lists them.
REASONS = ("exact_duplicate", "near_duplicate", "small", "odd_shape")


def flag_files(metadata: dict[str, Any]) -> dict[str, list[str]]:
    """`{relative path: [reasons]}` for the flagged files among those the scan recorded."""
    files = metadata.get("files") or {}
    if not isinstance(files, dict):
        return {}
    records = {rel: rec for rel, rec in files.items()
               if isinstance(rec, dict) and rec.get("sha256") and rec.get("phash")}
    recorded = metadata.get("duplicates")
    if isinstance(recorded, dict) and isinstance(recorded.get("exact"), list) and isinstance(recorded.get("near"), list):
        exact, near = recorded["exact"], recorded["near"]
    else:  # scanned before the scan recorded its groups: compare the stored hashes (all pairs)
        bits = (metadata.get("scan") or {}).get("near_duplicate_bits", NEAR_DUPLICATE_BITS)
        exact, near = duplicate_groups(records, int(bits))
    out: dict[str, list[str]] = {}
    for reason, groups in (("exact_duplicate", exact), ("near_duplicate", near)):
        for group in groups:
            for rel in group:
                if rel in records:  # only files the scan recorded (dataset.json may be hand-edited)
                    out.setdefault(rel, []).append(reason)
    for rel, rec in records.items():
        width, height = int(rec.get("width") or 0), int(rec.get("height") or 0)
        if not width or not height:
            continue
        if min(width, height) < SMALL_SIDE:
            out.setdefault(rel, []).append("small")
        if max(width, height) > ODD_RATIO * min(width, height):
            out.setdefault(rel, []).append("odd_shape")
    return out


__all__ = ["ODD_RATIO", "REASONS", "SMALL_SIDE", "flag_files"]
