"""The audit log: every operator action and security event, written and never changed.

`record` is the only writer. It adds the row to the caller's transaction, so that an action
and its audit row commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.models import AuditEvent


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
