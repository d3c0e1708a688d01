"""Prometheus metrics. Module-level collectors: one set per process, whatever the app count.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (the Dockerfile does) and
`/metrics` aggregates every worker's values.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "registry_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "registry_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOAN_RECORDS = Counter(
    "registry_loan_records_total", "Loan records received, by outcome", ["outcome"]
)
INQUIRIES = Counter("registry_inquiries_total", "Inquiries answered, by purpose", ["purpose"])
FLAGS = Counter("registry_flags_raised_total", "Flags raised in inquiry reports", ["code"])
# Per lender: members are a short, operator-made list (no label value comes from a request).
ACCOUNT_REVIEWS = Counter(
    "registry_account_reviews_total", "account_review inquiries answered, by lender", ["lender"]
)
QUOTA_REFUSALS = Counter(
    "registry_quota_refusals_total", "Requests refused by a lender quota, by quota", ["kind"]
)
TOKEN_ELEMENTS = Counter(
    "registry_token_elements_evaluated_total", "Blinded elements evaluated, by key", ["key_id"]
)


# Label values come from a fixed set: an invented method or path must not create a series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def allowed(token: str, production: bool, authorization: str | None) -> bool:
    """Whether a request may read `/metrics`: with a configured token, only a bearer of it;
    without one, anyone in development and nobody in production."""
    if not token:
        return not production
    presented = (authorization or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(presented.encode(), token.encode())


def render() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else OTHER
            method = request.method if request.method in METHODS else OTHER
            REQUESTS.labels(method, route, str(response.status_code)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response
