"""Soak test: N clients upload photos for T seconds while gunicorn recycles its workers; count every failure.

    .venv/bin/python bench/soak.py [--clients 8] [--seconds 60] [--max-requests 40] [--workers 2]

Runs, on 127.0.0.1 only and bounded in time and count, the product's gunicorn (gunicorn.conf.py,
its rate limiter on with a low limit, so most answers are quick 429s, as in a flood that hits the
limit) with `max_requests` made small so workers
recycle every few seconds, twice: with the shipped staggering (`max_requests_jitter` at the
ratio gunicorn.conf.py sets) and, as the baseline, with no jitter (workers recycle together).
Each client sends photos of mixed sizes (generated, 160 px to 2048 px). Every outcome that is
not 2xx or 4xx counts as an error: 5xx, connection errors, timeouts. Prints a table and writes
bench/results/soak.json; the exit status is 1 when the staggered run had any error.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import runpy
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import serve  # bench/serve.py: the model, the database, the gunicorn process

ROOT = serve.ROOT
#: Photo sizes a phone or a scanner sends (width, height); the clients cycle through them.
SIZES = [(160, 120), (640, 480), (1280, 960), (2048, 1536)]
BOOT = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [^]]*\] \[\d+\] \[INFO\] Booting worker with pid")
RECYCLE = "Autorestarting worker after current request"


def product_ratio() -> tuple[int, int]:
    """(max_requests, max_requests_jitter) as gunicorn.conf.py sets them."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return int(conf["max_requests"]), int(conf["max_requests_jitter"])


def client(url: str, photos: list[bytes], deadline: float, limit: int, outcomes: collections.Counter,
           latencies: list[float], samples: list[str], lock: threading.Lock, seed: int) -> None:
    """One client: uploads until the deadline (at most `limit` requests), one keep-alive session."""
    import requests

    session = requests.Session()
    session.trust_env = False
    for i in range(limit):
        if time.monotonic() >= deadline:
            break
        data = photos[(seed + i) % len(photos)]
        started = time.perf_counter()
        try:
            response = session.post(url, files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=30)
            kind = f"{response.status_code // 100}xx" if response.status_code < 500 else f"error {response.status_code}"
            if response.status_code == 429:
                kind = "4xx (429 rate limited)"
        except requests.ConnectionError as exc:
            kind = f"error: connection ({type(exc.args[0]).__name__ if exc.args else 'ConnectionError'})"
            with lock:
                if len(samples) < 5:
                    samples.append(str(exc)[:200])
            session = requests.Session()
            session.trust_env = False
        except requests.Timeout:
            kind = "error: timeout"
        except requests.RequestException as exc:
            kind = f"error: {type(exc).__name__}"
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            outcomes[kind] += 1
            if kind == "2xx":
                latencies.append(elapsed)


def boots_and_overlaps(log_text: str, initial: int, window: float) -> tuple[int, int, int]:
    """(workers recycled, replacement boots within `window` s of the previous one, recycle requests logged)."""
    stamps = [time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) for m in map(BOOT.match, log_text.splitlines()) if m]
    replacements = stamps[initial:]
    together = sum(1 for a, b in zip(replacements, replacements[1:]) if b - a < window)
    return len(replacements), together, log_text.count(RECYCLE)


def soak(args, label: str, jitter: int, model: Path, work: Path, photos: list[bytes]) -> dict:
    """One gunicorn run with `jitter`; the outcome counts and recycle figures."""
    env = serve.product_env(work / label, None, None)
    (work / label).mkdir(parents=True, exist_ok=True)
    env["ANIMALS_SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{work / label / 'soak.sqlite3'}"
    env.pop("ANIMALS_RATELIMIT_ENABLED")  # the product's rate limiter stays on, with a low limit: a flood
    env["ANIMALS_RATELIMIT_PREDICT"] = args.rate_limit
    serve.prepare_database(env, model)
    port = serve.free_port()
    log = work / f"gunicorn-{label}.log"
    cmd = [str(serve.BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--workers", str(args.workers),
           "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "--max-requests", str(args.max_requests),
           "--max-requests-jitter", str(jitter), "--access-logfile", "/dev/null"]
    url = f"http://127.0.0.1:{port}/api/v1/predict"
    outcomes: collections.Counter = collections.Counter()
    latencies: list[float] = []
    samples: list[str] = []
    lock = threading.Lock()
    with serve.Server(label, [*cmd, "wsgi:app"], port, env, log):
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(url, photos, deadline, args.max_per_client, outcomes,
                                                         latencies, samples, lock, i), daemon=True)
                   for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 60)
        wall = time.monotonic() - started
    recycled, together, asked = boots_and_overlaps(log.read_text(errors="replace"), args.workers, args.overlap_window)
    total = sum(outcomes.values())
    errors = sum(n for kind, n in outcomes.items() if kind.startswith("error"))
    return {"run": label, "max_requests": args.max_requests, "jitter": jitter, "requests": total, "errors": errors,
            "outcomes": dict(sorted(outcomes.items())), "rps": round(total / wall, 1),
            "p50_ms_2xx": round(statistics.median(latencies), 1) if latencies else None,
            "p95_ms_2xx": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "workers_recycled": recycled, "recycled_together": together, "recycles_logged": asked,
            "seconds": round(wall, 1), "error_samples": samples, "log": str(log)}


def table(rows: list[dict]) -> str:
    """The runs side by side, one line per outcome kind."""
    kinds = sorted({k for r in rows for k in r["outcomes"]})
    head = "| | " + " | ".join(r["run"] for r in rows) + " |"
    lines = [head, "|---" + "|---:" * len(rows) + "|"]
    fields = [("max_requests / jitter", lambda r: f"{r['max_requests']} / {r['jitter']}"),
              ("requests", lambda r: r["requests"]), ("requests/s", lambda r: r["rps"]),
              *[(kind, lambda r, k=kind: r["outcomes"].get(k, 0)) for kind in kinds],
              ("**errors (not 2xx/4xx)**", lambda r: f"**{r['errors']}**"),
              ("workers recycled", lambda r: r["workers_recycled"]),
              ("recycled < 2 s after the previous one", lambda r: r["recycled_together"]),
              ("p50 / p95 ms (2xx)", lambda r: f"{r['p50_ms_2xx']} / {r['p95_ms_2xx']}")]
    for name, get in fields:
        lines.append(f"| {name} | " + " | ".join(str(get(r)) for r in rows) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Soak test (see the module docstring).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--max-requests", type=int, default=40, help="small, so workers recycle during the run")
    parser.add_argument("--rate-limit", default="20 per minute",
                        help="predict rate limit per client (low: most answers are quick 429s, as in a flood)")
    parser.add_argument("--max-per-client", type=int, default=20000, help="upper bound on each client's requests")
    parser.add_argument("--overlap-window", type=float, default=2.0, help="seconds: boots closer than this count as together")
    parser.add_argument("--skip-baseline", action="store_true", help="only the staggered (product) run")
    parser.add_argument("--model", type=Path, help="model file (.pt); default: the shipped one, else a synthetic one")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    if not (1 <= args.clients <= 64 and 1 <= args.seconds <= 600 and args.max_requests >= 1):
        parser.error("--clients 1..64, --seconds 1..600, --max-requests >= 1")
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    model = args.model or (serve.SHIPPED_MODEL if serve.SHIPPED_MODEL.is_file() else serve.synthetic_model(work))
    serve.ensure_onnx(model)
    photos = [serve.photo(size) for size in SIZES]
    product_max, product_jitter = product_ratio()
    jitter = round(args.max_requests * product_jitter / product_max)
    runs = [("staggered (product ratio)", jitter)] + ([] if args.skip_baseline else [("baseline: no jitter", 0)])
    print(f"model {model.name}; photos {[len(p) for p in photos]} bytes; {args.clients} clients x {args.seconds:g} s; "
          f"gunicorn.conf.py: max_requests {product_max}, jitter {product_jitter}", flush=True)
    rows = []
    for label, value in runs:
        row = soak(args, label, value, model, work, photos)
        print(f"  {label}: {row['requests']} requests, {row['errors']} errors, {row['workers_recycled']} recycles",
              flush=True)
        rows.append(row)
    result = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_average": os.getloadavg()},
              "clients": args.clients, "seconds": args.seconds, "workers": args.workers, "threads": args.threads,
              "product_max_requests": product_max, "product_jitter": product_jitter, "model": str(model),
              "photo_bytes": [len(p) for p in photos], "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print()
    print(table(rows))
    print(f"\nwritten: {args.out}")
    return 1 if rows[0]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
