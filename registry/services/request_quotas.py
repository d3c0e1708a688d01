"""Quotas on what a lender asks and sends: inquiries per UTC day and per minute (a burst),
loan records per UTC day. Each lender may have its own limits (`registry lenders quota`),
else the settings' defaults.

A request is charged when it is answered, inside the caller's unit of work: over the limit,
`QuotaExceeded` is raised and the caller's rollback drops the charge and the work with it
(a refused request is neither recorded nor counted). An idempotent replay is not charged.
The usage row stays locked until the unit of work ends, so parallel requests of one lender
are counted one after another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import Lender, RequestUsage
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput, ServiceError

INQUIRIES_PER_DAY: Final = "inquiries/day"
INQUIRIES_PER_MINUTE: Final = "inquiries/min"
RECORDS_PER_DAY: Final = "records/day"
MAX_LIMIT = 10**9


class QuotaExceeded(ServiceError):
    def __init__(self, kind: str, limit: int, retry_after: int) -> None:
        what = {
            INQUIRIES_PER_DAY: f"daily quota of {limit} inquiries",
            INQUIRIES_PER_MINUTE: f"burst limit of {limit} inquiries a minute",
            RECORDS_PER_DAY: f"daily quota of {limit} loan records",
        }[kind]
        super().__init__(f"{what} reached; try again in {retry_after} s")
        self.kind, self.limit, self.retry_after = kind, limit, retry_after


@dataclass(frozen=True)
class Limits:
    inquiries_per_day: int
    inquiry_burst_per_minute: int
    upload_records_per_day: int


def limits_for(lender: Lender, defaults: Limits) -> Limits:
    """The lender's own limits where it has them, else the defaults."""
    return Limits(
        lender.inquiries_per_day or defaults.inquiries_per_day,
        lender.inquiry_burst_per_minute or defaults.inquiry_burst_per_minute,
        lender.upload_records_per_day or defaults.upload_records_per_day,
    )


def _window(kind: str, now: datetime) -> tuple[datetime, datetime]:
    if kind == INQUIRIES_PER_MINUTE:
        start = now.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


_CHARGES: dict[int, TextClause] = {}  # by row count: built once


def _charge_statement(rows: int) -> TextClause:
    """The upsert of `rows` usage rows, as text: SQLAlchemy compiles its ON CONFLICT
    constructs again on every execution, text it compiles once (the inquiry's hot path). Both
    backends spell it alike."""
    statement = _CHARGES.get(rows)
    if statement is None:
        table: Table = RequestUsage.__table__  # type: ignore[assignment]
        values = ", ".join(
            f"(:lender_id_{n}, :kind_{n}, :window_start_{n}, :used_{n})" for n in range(rows)
        )
        statement = text(
            "INSERT INTO request_usage (lender_id, kind, window_start, used) "  # noqa: S608 - placeholders only
            f"VALUES {values} "
            "ON CONFLICT (lender_id, kind, window_start) "
            "DO UPDATE SET used = request_usage.used + excluded.used "
            "RETURNING kind, used"
        ).bindparams(
            *(
                bindparam(f"{name}_{n}", type_=table.c[name].type)
                for n in range(rows)
                for name in ("lender_id", "kind", "window_start", "used")
            )
        )
        _CHARGES[rows] = statement
    return statement


def charge(
    session: Session, lender_id: int, charges: list[tuple[str, int, int]], now: datetime
) -> None:
    """Count each `(kind, amount, limit)` against the lender's quota of that kind in its
    current window, all in one statement (an inquiry's hot path pays one round trip);
    raises QuotaExceeded for the first one over its limit (the caller rolls back)."""
    values: dict[str, Any] = {}
    for n, (kind, amount, _limit) in enumerate(charges):
        values.update(
            {
                f"lender_id_{n}": lender_id,
                f"kind_{n}": kind,
                f"window_start_{n}": _window(kind, now)[0],
                f"used_{n}": amount,
            }
        )
    statement = _charge_statement(len(charges))
    used = dict(core(session).execute(statement, values).tuples().all())
    for kind, _amount, limit in charges:
        if used[kind] > limit:
            end = _window(kind, now)[1]
            raise QuotaExceeded(kind, limit, max(1, int((end - now).total_seconds() + 0.999)))


def charge_inquiry(session: Session, lender: Lender, limits: Limits, now: datetime) -> None:
    """One answered inquiry: the minute's burst, then the day."""
    charge(
        session,
        lender.id,
        [
            (INQUIRIES_PER_MINUTE, 1, limits.inquiry_burst_per_minute),
            (INQUIRIES_PER_DAY, 1, limits.inquiries_per_day),
        ],
        now,
    )


def charge_records(
    session: Session, lender: Lender, count: int, limits: Limits, now: datetime
) -> None:
    """`count` loan records received in one answered upload."""
    charge(session, lender.id, [(RECORDS_PER_DAY, count, limits.upload_records_per_day)], now)


def set_quotas(
    session: Session,
    lender: Lender,
    now: datetime,
    actor: audit.Actor,
    *,
    inquiries_per_day: int | None = None,
    inquiry_burst_per_minute: int | None = None,
    upload_records_per_day: int | None = None,
) -> None:
    """Set the lender's own limits (each given one; 0 returns it to the default), audited."""
    given = {
        "inquiries_per_day": inquiries_per_day,
        "inquiry_burst_per_minute": inquiry_burst_per_minute,
        "upload_records_per_day": upload_records_per_day,
    }
    errors = [
        FieldError(name, f"0 (the default) to {MAX_LIMIT}")
        for name, value in given.items()
        if value is not None and not 0 <= value <= MAX_LIMIT
    ]
    if errors:
        raise InvalidInput("invalid quota", errors)
    changes = {name: value for name, value in given.items() if value is not None}
    for name, value in changes.items():
        setattr(lender, name, value or None)
    lender.updated_at = now
    audit.record(session, actor, "lender_quotas", now, f"lender:{lender.code}", changes)
    session.flush()
