"""Where "now" comes from. Services take `now` as an argument; the app owns one clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a Z: 2026-11-25T12:00:00Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to: for tests and reproducible demos."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta
