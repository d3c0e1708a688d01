"""When a failed request is worth retrying, and how long to wait before it.

Retried, within a time budget (``retry_for``, 60 seconds by default): connection failures,
timeouts, an answer cut short or unreadable, 408, 429, 502, 503 and 504. Waits grow
exponentially with full jitter, and a ``Retry-After`` (seconds or an HTTP date) is honoured;
no wait ever runs past the budget. Only a request that is safe to send again is retried: a
GET, a DELETE (the registry answers a repeat with 404, see
:class:`~lender_client.errors.AlreadyRetractedError`) or a POST carrying an idempotency key
(every POST of this client does). A 409 is never retried: the registry answers a reused
idempotency key at once (the stored answer, or a conflict), it never says "still in
progress". A 500 is a fault of the registry that a retry would only repeat.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "DEFAULT_RETRY_FOR",
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryStats",
    "backoff_delay",
    "is_idempotent",
    "is_retryable",
    "parse_retry_after",
]

#: Seconds a request keeps being retried by default: long enough for a registry restart or
#: a database fail-over, short enough for a person waiting on an inquiry to learn of it.
DEFAULT_RETRY_FOR = 60.0
#: Statuses that say "not now" rather than "not this": a gateway or the registry is passing
#: through an outage (502, 503, 504), the client is asked to slow down (429), or the server
#: gave up waiting for the request (408).
RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


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

    ``problem_type`` is accepted for compatibility and does not change the answer: no 409 is
    retried (the registry never sends a retryable one).
    """
    return status in RETRYABLE_STATUSES


def is_idempotent(method: str, idempotency_key: str | None) -> bool:
    """Whether sending the request again is safe when its first answer was lost or damaged:
    a safe or idempotent method, or a POST the registry deduplicates by its key."""
    return method.upper() in _SAFE_METHODS or idempotency_key is not None


@dataclass
class RetryBudget:
    """The retries left to one request: at most ``max_retries`` (``None``: no count), and no
    new attempt once ``seconds`` have gone by since the first one began.

    Time is counted twice, by the clock and by the waits asked for, and the larger wins: a
    test that replaces ``sleep`` still sees its budget run out.
    """

    seconds: float
    max_retries: int | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0, init=False)
    waited: float = field(default=0.0, init=False)
    retries: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed(self) -> float:
        return max(self.clock() - self.started, self.waited)

    @property
    def remaining(self) -> float:
        return self.seconds - self.elapsed

    def next_wait(
        self,
        retry_after: float | None,
        *,
        base: float,
        cap: float,
        rand: Callable[[], float],
        max_retry_after: float = math.inf,
    ) -> float | None:
        """The wait before the next attempt, or ``None`` when no retry is left.

        A ``Retry-After`` is waited for exactly, unless it runs past the budget (or past
        ``max_retry_after``): then there is no retry, since coming back earlier than asked is
        pointless. Otherwise the jittered backoff, cut short at the end of the budget, so that
        the last attempt starts just as the budget runs out.
        """
        if self.max_retries is not None and self.retries >= self.max_retries:
            return None
        remaining = self.remaining
        if remaining <= 0:
            return None
        if retry_after is not None:
            if retry_after > remaining or retry_after > max_retry_after:
                return None
            return retry_after
        return min(backoff_delay(self.retries, base, cap, rand), remaining)

    def spend(self, wait: float) -> None:
        """Count a retry and the wait before it."""
        self.retries += 1
        self.waited += wait


@dataclass
class RetryStats:
    """What retrying has cost a client so far (for a summary: "3 requests retried ...")."""

    #: Requests that needed at least one retry, and the retries they took.
    requests: int = 0
    retries: int = 0
    #: Seconds spent waiting between attempts, over all requests.
    waited: float = 0.0
    #: The longest time one request took from its first attempt to its last answer.
    longest: float = 0.0

    def record(self, budget: RetryBudget) -> None:
        if budget.retries:
            self.requests += 1
            self.retries += budget.retries
            self.waited += budget.waited
            self.longest = max(self.longest, budget.elapsed)
