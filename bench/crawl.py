"""Benchmark: the concurrent crawler against one download thread, same fake server, same run.

    .venv/bin/python bench/crawl.py [--count 300] [--latency 0.1] [--workers 8] [--per-host 4]

The fake Baidu (tests/fakebaidu.py) answers every picture after `--latency` seconds from four
loopback "hosts" (127.0.0.2-5). Both runs use the same page delay, timeouts and picture checks;
only `workers`/`per_host` differ. Prints a table; writes bench/results/crawl.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.crawl import CrawlConfig, crawl  # noqa: E402
from tests.fakebaidu import start_fake_baidu  # noqa: E402
from webapp.cli.console import table  # noqa: E402


def run_once(base_url: str, count: int, workers: int, per_host: int, page_delay: float) -> dict:
    """Crawl `count` pictures into a fresh folder; return the timing and the summary counts."""
    config = CrawlConfig(base_url=base_url, workers=workers, per_host=per_host, page_delay=page_delay, timeout=(5, 15))
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        started = time.perf_counter()
        summary = crawl(["猫"], tmp, count=count, config=config)
        wall = time.perf_counter() - started
        saved = sum(1 for p in (Path(tmp) / "猫").iterdir() if not p.name.startswith("."))
    return {
        "workers": workers,
        "per_host": per_host,
        "wall_s": round(wall, 3),
        "images_per_s": round(summary.downloaded / wall, 2),
        "downloaded": summary.downloaded,
        "files": saved,
        "pages": summary.pages,
        "rejected": summary.rejected_total,
        "duplicates": summary.duplicates,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the fake waits before each picture")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--page-delay", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crawl.json")
    args = parser.parse_args(argv)

    fake = start_fake_baidu(total=args.count + 60, bad={}, latency=args.latency, image_hosts=4)
    try:
        run_once(fake.base_url, 5, 2, 2, 0.0)  # warm the fake's picture cache so neither run pays for it
        serial = run_once(fake.base_url, args.count, 1, 1, args.page_delay)
        concurrent = run_once(fake.base_url, args.count, args.workers, args.per_host, args.page_delay)
    finally:
        fake.stop()
    speedup = serial["wall_s"] / concurrent["wall_s"]
    rows = [
        ["one thread", r["workers"], r["per_host"], r["downloaded"], r["pages"], f"{r['wall_s']:.2f}", f"{r['images_per_s']:.1f}"]
        for r in [serial]
    ] + [
        ["concurrent", r["workers"], r["per_host"], r["downloaded"], r["pages"], f"{r['wall_s']:.2f}", f"{r['images_per_s']:.1f}"]
        for r in [concurrent]
    ]
    print(f"crawl {args.count} pictures, {args.latency * 1000:.0f} ms per picture, 4 hosts, page delay {args.page_delay}s")
    print(table(["run", "workers", "per host", "saved", "pages", "wall s", "img/s"], rows))
    print(f"\nspeed-up: {speedup:.1f}× (same server, same run)")
    result = {
        "benchmark": "crawl",
        "count": args.count,
        "latency_s": args.latency,
        "page_delay_s": args.page_delay,
        "hosts": 4,
        "serial": serial,
        "concurrent": concurrent,
        "speedup": round(speedup, 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return result


if __name__ == "__main__":
    main()
