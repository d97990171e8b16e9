"""What the dataset grid's "flagged" filter costs: reading the scan's recorded groups vs comparing all hashes.

    .venv/bin/python bench/dataset_flags.py [--sizes 1000,5000,10000]

Synthetic scan records (random hashes, 300×200 pictures) for N files; for each N it times
`json.loads` of the dataset.json text (the baseline every page view after an edit pays anyway),
`flag_files` with the duplicate groups the scan records, and `flag_files` on an older dataset.json
without them (every pair of perceptual hashes compared). Ratios are against the JSON read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, write_result  # noqa: E402
from ml.dataset.flags import flag_files  # noqa: E402
from ml.dataset.scan import duplicate_groups  # noqa: E402


def records(n: int) -> dict:
    rng = random.Random(n)
    return {f"c{i % 5}/{i:06d}.jpg": {"class": f"c{i % 5}", "sha256": f"{rng.getrandbits(256):064x}",
                                      "phash": f"{rng.getrandbits(64):016x}", "width": 300, "height": 200}
            for i in range(n)}


def best_of(fn, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--out", type=Path, default=Path("bench/results/dataset_flags.json"))
    args = parser.parse_args()
    rows = []
    print("| files | read dataset.json | flags from recorded groups | flags, all pairs compared |")
    print("|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        files = records(n)
        exact, near = duplicate_groups(files)
        text = json.dumps({"files": files, "duplicates": {"exact": exact, "near": near}})
        old = json.dumps({"files": files})
        read = best_of(lambda: json.loads(text))  # noqa: B023
        recorded = best_of(lambda: flag_files(json.loads(text))) - read  # noqa: B023
        pairs = best_of(lambda: flag_files(json.loads(old)), rounds=1) - read  # noqa: B023
        rows.append({"files": n, "read_s": read, "recorded_s": recorded, "all_pairs_s": pairs})
        print(f"| {n:,} | {read * 1000:.0f} ms (1.0) | {recorded * 1000:.0f} ms ({recorded / read:.1f}) "
              f"| {pairs * 1000:.0f} ms ({pairs / read:.0f}) |")
    write_result(args.out, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
