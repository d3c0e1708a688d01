"""The dashboard's whole-book totals, cached per process and refreshed by a background
thread: infrastructure around `services.dashboard.book_totals`, which the app holds (see
`registry.extensions`). Each refresh is its own read-only unit of work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from registry.db import transaction
from registry.services.dashboard import BookTotals, book_totals

log = logging.getLogger(__name__)


class TotalsCache:
    """`book_totals`, at most `max_age` old, refreshed without making a page wait.

    A request finds the figures computed; once they are older than `max_age`, it still
    gets them at once and one background thread (per process) computes fresh ones. Only
    the very first request of a process computes while it waits. `max_age` 0: always live.
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        clock: Callable[[], datetime],
        max_age: timedelta,
        background: bool = True,
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self.max_age, self.background = max_age, background
        self._value: BookTotals | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    @property
    def held(self) -> BookTotals | None:
        """The figures in memory, however old, without computing any."""
        return self._value

    def get(self) -> BookTotals:
        value = self._value
        if value is None or not self.max_age:
            return self.refresh()
        if self._clock() - value.computed_at >= self.max_age:
            if self.background:
                self.refresh_in_background()
            else:
                return self.refresh()
        return value

    def refresh(self) -> BookTotals:
        with self._sessions() as session, transaction(session, write=False):
            value = book_totals(session, self._clock())
        self._value = value
        return value

    def refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def work() -> None:
            try:
                self.refresh()
            except Exception:  # the next request tries again; the page keeps the old figures
                log.exception("refreshing the dashboard totals failed")
            finally:
                self._refreshing = False

        threading.Thread(target=work, name="dashboard-totals", daemon=True).start()
