"""Gunicorn settings for production: `gunicorn -c python:registry.gunicorn_config ...`."""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("REGISTRY_BIND", "0.0.0.0:8000")
# Processes: about one per core. Threads: each waits on the database part of the time,
# and threaded workers keep HTTP connections alive (sync workers close each one).
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 2)))
worker_class = "gthread"
threads = int(os.environ.get("REGISTRY_THREADS", "4"))
keepalive = 30
timeout = 60
graceful_timeout = 30
# The app writes its own structured access log line per request.
accesslog = None


def child_exit(_server: Any, worker: Any) -> None:
    # Prometheus multiprocess mode: forget the gauges of a worker that has gone.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    # Compute the console's whole-book totals once, in the background, as the worker
    # starts: the first dashboard view then finds them ready.
    app = getattr(worker, "wsgi", None)
    registry_state = getattr(app, "extensions", {}).get("registry")
    if registry_state is not None:
        registry_state.dashboard_totals.refresh_in_background()
