"""The audit log: every operator action and security event, written and never changed.

`record` is the only writer. It adds the row to the caller's transaction, so that an action
and its audit row commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from registry.models import AuditEvent
from registry.services.paging import Paginated


@dataclass(frozen=True)
class Actor:
    """Who did it, and from where: `operator:<name>`, `cli`, `lender:<code>` or `system`."""

    name: str
    ip: str | None = None
    request_id: str | None = None

    @classmethod
    def operator(cls, username: str, ip: str | None = None, request_id: str | None = None) -> Actor:
        return cls(f"operator:{username}", ip, request_id)


CLI = Actor("cli")


def record(
    session: Session,
    actor: Actor,
    action: str,
    now: datetime,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor=actor.name,
        action=action,
        target=target,
        details=details or {},
        ip=actor.ip,
        request_id=actor.request_id,
    )
    session.add(event)
    return event


# --- reading (the console's audit page) --------------------------------------------------
# Nothing here or anywhere else updates or deletes a row: the log is append-only.


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # exact, e.g. "operator:alice"
    action: str | None = None
    target: str | None = None  # exact
    since: date | None = None  # first UTC day included
    until: date | None = None  # last UTC day included

    def query_args(self) -> dict[str, str]:
        values = {
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class AuditPage(Paginated):
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def search(session: Session, f: AuditFilter, page: int = 1, per_page: int = 50) -> AuditPage:
    """Events matching the filter, newest first; two statements (rows and count)."""
    conditions: list[ColumnElement[bool]] = []
    if f.actor:
        conditions.append(AuditEvent.actor == f.actor)
    if f.action:
        conditions.append(AuditEvent.action == f.action)
    if f.target:
        conditions.append(AuditEvent.target == f.target)
    if f.since:
        conditions.append(AuditEvent.occurred_at >= _day_start(f.since))
    if f.until:
        conditions.append(AuditEvent.occurred_at < _day_start(f.until + timedelta(days=1)))
    page, per_page = max(1, page), max(1, min(per_page, 200))
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(*conditions)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    return AuditPage(events, total, page, per_page)


def known_actions(session: Session) -> list[str]:
    """The actions present in the log, for the filter's choices."""
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
