"""The lender quotas as the API applies them: the caller's limits, and a refusal as a 429
problem with Retry-After (counted in the metrics)."""

from __future__ import annotations

from registry import metrics
from registry.api.auth import current_lender
from registry.extensions import state
from registry.problems import Problem
from registry.services.request_quotas import Limits, QuotaExceeded, limits_for


def caller_limits() -> Limits:
    settings = state().settings
    defaults = Limits(
        settings.inquiries_per_day,
        settings.inquiry_burst_per_minute,
        settings.upload_records_per_day,
    )
    return limits_for(current_lender(), defaults)


def refused(exc: QuotaExceeded) -> Problem:
    metrics.QUOTA_REFUSALS.labels(exc.kind).inc()
    return Problem(429, str(exc), "quota-exceeded", headers={"Retry-After": str(exc.retry_after)})
