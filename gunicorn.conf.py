"""gunicorn settings for `gunicorn wsgi:app`; override any of them on the command line or in GUNICORN_CMD_ARGS
(`--bind 0.0.0.0:8000 --workers 8`). The app itself is configured only by webapp/config.py."""

import multiprocessing
import os

# numpy's OpenBLAS starts one thread per core and keeps them spinning after each call; in a web
# worker the only BLAS call is the open-set check's small (1 x 1280) @ (1280 x 600) product, and
# the spinning threads took the cores from the forward passes: 37 ms of CPU per small upload
# instead of 24 (docs/benchmarks.md). Requests are the parallelism here, so one BLAS thread.
# Set here, before any worker imports numpy, and not in wsgi.py: the RQ workers (`flask --app wsgi
# worker`) keep every core for their batch products. An explicit OPENBLAS_NUM_THREADS wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

bind = "0.0.0.0:8000"
# Each worker process holds one copy of the model (tens of MB with ONNX); its threads share it.
workers = max(2, min(4, multiprocessing.cpu_count()))
threads = 4
worker_class = "gthread"
# A prediction takes well under a second; anything near this is a stuck request, not slow work
# (training and crawling run in RQ workers, never in a request).
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak in a native library cannot grow forever. Each worker
# draws its own limit between 2000 and 4000 requests: with the jitter as large as the limit, the
# workers' recycles spread over a whole lifetime instead of coming together (bench/soak.py, docs/web.md).
max_requests = 2000
max_requests_jitter = max_requests
accesslog = "-"
errorlog = "-"


def on_starting(server):
    """Before any worker starts: stop with one line if the database is not migrated (AUTO_MIGRATE: migrate it)."""
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from webapp.schema import check_before_serving

    check_before_serving(server.log.info, server.log.error)
