"""gunicorn settings for `gunicorn wsgi:app` (override any of them with GUNICORN_CMD_ARGS or -c another file)."""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
# Each worker process holds one copy of the model (a few tens of MB with ONNX); threads share it.
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 4))
worker_class = "gthread"
# A prediction takes well under a second; anything near this is a stuck request, not slow work
# (training and crawling run in RQ workers, never in a request).
timeout = 60
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
