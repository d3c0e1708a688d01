"""The daily token quota: every evaluated element is an online guess at an ID, so each one
is counted per lender and UTC day and capped."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from registry.db import upsert
from registry.models import Lender, TokenUsage
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput, ServiceError


class QuotaExceeded(ServiceError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def charge(session: Session, lender: Lender, count: int, now: datetime, default: int) -> None:
    """Count `count` elements against the lender's quota for today (its own, else `default`).
    Raises QuotaExceeded when they do not fit: the caller's rollback then drops the charge,
    so a refused batch is not counted. The usage row stays locked until the caller ends
    its unit of work, so that parallel batches of one lender are counted one after another."""
    quota = lender.token_quota_per_day or default
    day = now.date()
    table: Table = TokenUsage.__table__  # type: ignore[assignment]
    insert = upsert(session, table).values(lender_id=lender.id, day=day, elements=count)
    statement = insert.on_conflict_do_update(
        index_elements=["lender_id", "day"],
        set_={"elements": table.c.elements + insert.excluded.elements},
    ).returning(table.c.elements)
    used = session.execute(statement).scalar_one()
    if used > quota:
        tomorrow = datetime.combine(day + timedelta(days=1), time(), tzinfo=now.tzinfo)
        left = max(0, quota - (used - count))
        raise QuotaExceeded(
            f"daily token quota of {quota} elements reached ({left} left today); "
            "it resets at 00:00 UTC",
            retry_after=max(1, int((tomorrow - now).total_seconds())),
        )


def usage_today(session: Session, lender_id: int, now: datetime) -> int:
    used = session.scalar(
        select(TokenUsage.elements).where(
            TokenUsage.lender_id == lender_id, TokenUsage.day == now.date()
        )
    )
    return used or 0


def set_quota(
    session: Session, lender: Lender, quota: int | None, now: datetime, actor: audit.Actor
) -> None:
    if quota is not None and quota < 1:
        raise InvalidInput("quota must be positive", [FieldError("quota", "must be ≥ 1")])
    old = lender.token_quota_per_day
    lender.token_quota_per_day = quota
    audit.record(
        session, actor, "token_quota_set", now, f"lender:{lender.code}", {"old": old, "new": quota}
    )
    session.flush()
