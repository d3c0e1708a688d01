"""When a failed request is worth retrying, and how long to wait before it.

Connection failures, timeouts, 408, 429 and 5xx are retried with exponential backoff and full
jitter, honouring ``Retry-After``. A 409 is never retried: the registry answers a reused
idempotency key at once (the stored answer, or a conflict), it never says "still in progress".
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["backoff_delay", "is_retryable", "parse_retry_after"]


def backoff_delay(
    attempt: int,
    base: float = 0.5,
    cap: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    "Full jitter": a uniform draw from ``[0, min(cap, base * 2**attempt)]``, which spreads
    retrying clients out instead of having them come back in step.
    """
    ceiling = min(cap, base * math.pow(2, min(attempt, 62)))
    return rand() * ceiling


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (``None`` if absent or unusable).

    Both forms of RFC 9110 are understood: a number of seconds and an HTTP date.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def is_retryable(status: int, problem_type: str | None = None) -> bool:
    """Whether a response with this status is worth retrying as it is.

    ``problem_type`` is accepted for compatibility and no longer changes the answer: no 409 is
    retried (the registry never sends a retryable one).
    """
    return status in (408, 429) or 500 <= status <= 599
