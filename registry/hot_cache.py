"""Per-process copies of what every inquiry reads and an operator rarely changes: the lender
behind an API key, the flag policy, and a lender's give-to-get standing while it is good.

Each copy is kept at most `cache_seconds` (setting `REGISTRY_CACHE_SECONDS`, 2 by default):
a key revoked, a lender suspended or the policy changed by another process (the `registry`
CLI, another gunicorn worker) is seen within that time. A change made through this process's
ORM (any session flushing or bulk-updating an API key, a lender or a policy rule) voids every
copy at once, whatever their age. With `cache_seconds` 0 nothing is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from registry.models import ApiKey, Lender, PolicyRule

T = TypeVar("T")

_WATCHED_TYPES = (ApiKey, Lender, PolicyRule)
_WATCHED_TABLES = frozenset(model.__tablename__ for model in _WATCHED_TYPES)
# Bumped by every change to a watched table made through this process: a copy taken under
# an older generation is stale.
_generation = 0
_generation_lock = threading.Lock()


def generation() -> int:
    return _generation


def invalidate() -> None:
    """Void every copy in this process (each cache reloads on its next use)."""
    global _generation
    with _generation_lock:
        _generation += 1


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    for changed in (session.new, session.dirty, session.deleted):
        if any(isinstance(obj, _WATCHED_TYPES) for obj in changed):
            invalidate()
            return


@event.listens_for(Session, "do_orm_execute")
def _after_bulk_change(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        invalidate()


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    generation: int
    expires: float  # time.monotonic()


class HotCache(Generic[T]):
    """Values by key, each reloaded after `seconds` or after any watched change."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[Hashable, _Entry[T]] = {}

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        if self.seconds <= 0:
            return load()
        moment = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == _generation and moment < entry.expires:
            return entry.value
        taken = _generation  # before loading: a change during the load voids this copy
        value = load()
        self._entries[key] = _Entry(value, taken, moment + self.seconds)
        return value

    def put(self, key: Hashable, value: T) -> None:
        if self.seconds > 0:
            self._entries[key] = _Entry(value, _generation, time.monotonic() + self.seconds)

    def peek(self, key: Hashable) -> T | None:
        """The fresh copy for `key`, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != _generation or time.monotonic() >= entry.expires:
            return None
        return entry.value

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)


@dataclass(frozen=True)
class HotCaches:
    """One app's caches (each app its own: tests build an app per test)."""

    lenders: HotCache[Any]  # by the SHA-256 of a presented API key: a detached Lender copy
    policy: HotCache[Any]  # one entry: the Policy
    standing: HotCache[Any]  # by lender id: a good give-to-get standing's stored facts

    @classmethod
    def create(cls, seconds: float) -> HotCaches:
        return cls(HotCache(seconds), HotCache(seconds), HotCache(seconds))


EXTENSION = "registry_hot_caches"


def init_app(app: Any, seconds: float) -> None:
    app.extensions[EXTENSION] = HotCaches.create(seconds)


def caches() -> HotCaches:
    found: HotCaches = current_app.extensions[EXTENSION]
    return found
