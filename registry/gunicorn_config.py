"""Gunicorn settings for production: `gunicorn -c python:registry.gunicorn_config ...`."""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("REGISTRY_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = 60
graceful_timeout = 30
# The app writes its own structured access log line per request.
accesslog = None


def child_exit(_server: Any, worker: Any) -> None:
    # Prometheus multiprocess mode: forget the gauges of a worker that has gone.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
