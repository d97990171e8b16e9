"""Benchmark: a build's classes crawled one after another against all at once (`ml.crawl.crawl_together`).

    .venv/bin/python bench/crawl_classes.py [--classes 3] [--count 40] [--latency 0.1] [--page-delay 1.0]

Same fake Baidu (tests/fakebaidu.py, every picture after `--latency` s, four loopback hosts), same
`CrawlConfig` (the polite defaults: 8 threads, 4 per host, `--page-delay` between result pages) in
both runs: "one after another" is what one crawl worker did with one job per class; "together"
shares those limits across the classes. Prints a table; writes bench/results/crawl_classes.json.
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

from ml.crawl import CrawlConfig, crawl, crawl_together  # noqa: E402
from tests.fakebaidu import start_fake_baidu  # noqa: E402
from webapp.cli.console import table  # noqa: E402

WORDS = ["猫", "狗", "马", "羊", "牛", "兔"]


def run(base_url: str, classes: int, count: int, page_delay: float, together: bool) -> dict:
    """Crawl `classes` classes of `count` pictures into a fresh folder; the wall time and pictures saved."""
    config = CrawlConfig(base_url=base_url, page_delay=page_delay, allow_networks=("127.0.0.0/8",))
    specs = [{"keywords": [w], "class_name": w, "count": count} for w in WORDS[:classes]]
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        started = time.perf_counter()
        if together:
            saved = sum(o.summary.downloaded for o in crawl_together(specs, tmp, config=config))
        else:
            saved = sum(crawl(s["keywords"], tmp, class_name=s["class_name"], count=count, config=config).downloaded
                        for s in specs)
        wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), "saved": saved, "images_per_s": round(saved / wall, 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--page-delay", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crawl_classes.json")
    args = parser.parse_args(argv)
    fake = start_fake_baidu(total=args.count + 30, bad={}, latency=args.latency, image_hosts=4)
    try:
        run(fake.base_url, 1, 3, 0.0, False)  # warm the fake's picture cache so neither run pays for it
        serial = run(fake.base_url, args.classes, args.count, args.page_delay, False)
        together = run(fake.base_url, args.classes, args.count, args.page_delay, True)
    finally:
        fake.stop()
    speedup = serial["wall_s"] / together["wall_s"]
    print(f"{args.classes} classes × {args.count} pictures, {args.latency * 1000:.0f} ms per picture, 4 hosts, "
          f"page delay {args.page_delay} s, 8 threads, 4 per host")
    print(table(["run", "saved", "wall s", "img/s"],
                [[name, r["saved"], f"{r['wall_s']:.2f}", f"{r['images_per_s']:.1f}"]
                 for name, r in (("one after another", serial), ("together", together))]))
    print(f"\nspeed-up: {speedup:.2f}× (same server, same run)")
    result = {"benchmark": "crawl_classes", "classes": args.classes, "count": args.count, "latency_s": args.latency,
              "page_delay_s": args.page_delay, "serial": serial, "together": together, "speedup": round(speedup, 2),
              "python": platform.python_version(), "machine": platform.machine(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written {args.out.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
