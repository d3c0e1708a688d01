"""Where an inquiry's database time goes: EXPLAIN ANALYZE of its statements, and the same
statements replayed straight through psycopg (no HTTP, no Flask, no ORM) as a floor.

The SQL mirrors what `registry.services.lenders.authenticate`, `report.book.read_book`,
`policy.load_policy` and `inquiries.inquire` send (see `INQUIRY_STATEMENTS`).
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.bench.database import LenderKey, connect
from tests.bench.loadgen import percentile
from tests.bench.tokens import borrower_token, unknown_token

# As SQLAlchemy renders them for psycopg (checked with echo=True), casts included.
AUTH = (
    "SELECT api_keys.id, api_keys.lender_id, api_keys.prefix, api_keys.secret_hash, "
    "api_keys.label, api_keys.created_at, api_keys.revoked_at, lenders.id AS id_1, "
    "lenders.code, lenders.name, lenders.status, lenders.created_at AS created_at_1, "
    "lenders.updated_at FROM api_keys JOIN lenders ON lenders.id = api_keys.lender_id "
    "WHERE api_keys.prefix = %(prefix)s::VARCHAR"
)
# The token's loans and their months in one statement (services/report/book.py).
LOANS = (
    "SELECT loans.lender_id, loans.loan_ref, loans.product, loans.currency, "
    "loans.credit_limit, loans.outstanding, loans.amount_past_due, loans.days_past_due, "
    "loans.status, loans.special_event, loans.opened_on, loans.closed_on, loans.as_of, "
    "loans.scheduled_payment, loans.payment_frequency, loans.written_off_amount, "
    "loans.written_off_on, lenders.exited_at, loan_months.month, loan_months.status AS "
    "status_1, loan_months.worst_days_past_due, loan_months.last_delinquent_on FROM loans "
    "JOIN lenders ON lenders.id = loans.lender_id LEFT OUTER JOIN loan_months ON "
    "loan_months.borrower = loans.borrower AND loan_months.lender_id = loans.lender_id AND "
    "loan_months.loan_ref = loans.loan_ref WHERE loans.borrower = %(borrower)s"
)
INQUIRY_WINDOW = (
    "SELECT inquiries.lender_id, max(inquiries.created_at) AS max_1 FROM inquiries "
    "WHERE inquiries.borrower = %(borrower)s AND inquiries.purpose = %(purpose)s::VARCHAR "
    "AND inquiries.created_at >= %(since)s::TIMESTAMP WITH TIME ZONE "
    "AND inquiries.lender_id != %(caller)s::INTEGER GROUP BY inquiries.lender_id"
)
POLICY = (
    "SELECT policy_rules.code, policy_rules.threshold, policy_rules.enabled, "
    "policy_rules.updated_at FROM policy_rules"
)
INSERT = (
    "INSERT INTO inquiries (borrower, id, lender_id, purpose, consent_ref, amount_requested, "
    "currency, flags, created_at, report) VALUES (%(borrower)s, %(id)s::VARCHAR, "
    "%(caller)s::INTEGER, %(purpose)s::VARCHAR, %(consent)s::VARCHAR, NULL, NULL, "
    "%(flags)s::JSON, %(now)s::TIMESTAMP WITH TIME ZONE, %(flags)s::JSON)"
)
# The pool's pre-ping (pool_pre_ping=True in registry.db) runs before every checkout.
PRE_PING = "SELECT 1"
INQUIRY_STATEMENTS = {
    "auth": AUTH,
    "loans": LOANS,
    "inquiry_window": INQUIRY_WINDOW,
    "policy": POLICY,
    "insert": INSERT,
}
_TIME = re.compile(r"(Planning|Execution) Time: ([0-9.]+) ms")


def _params(lender: LenderKey, token: bytes, now: datetime) -> dict[str, Any]:
    return {
        "prefix": lender.prefix,
        "borrower": token,
        "purpose": "new_credit",
        "since": now - timedelta(days=90),
        "caller": lender.id,
        "id": str(uuid.uuid4()),
        "consent": "bench-consent",
        "flags": "[]",
        "now": now,
    }


@dataclass(frozen=True)
class Plan:
    name: str
    token_kind: str
    text: str
    planning_ms: float
    execution_ms: float

    def summary(self) -> dict[str, Any]:
        return {
            "statement": self.name,
            "token": self.token_kind,
            "planning_ms": self.planning_ms,
            "execution_ms": self.execution_ms,
            "plan": self.text,
        }


def explain(url: str, lender: LenderKey, tokens: dict[str, bytes]) -> list[Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) of each inquiry statement; the insert is rolled back.
    Each is run once first so the figures are for a warm cache, as in the benchmark."""
    plans = []
    now = datetime.now(UTC)
    with connect(url) as connection:
        for kind, token in tokens.items():
            for name, sql in INQUIRY_STATEMENTS.items():
                if name in ("auth", "policy") and kind != next(iter(tokens)):
                    continue  # the same for every token
                params = _params(lender, token, now)
                connection.execute(sql, params)  # warm
                connection.rollback()
                rows = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
                connection.rollback()
                text = "\n".join(str(row[0]) for row in rows)
                times = {m.group(1): float(m.group(2)) for m in _TIME.finditer(text)}
                plans.append(
                    Plan(name, kind, text, times.get("Planning", 0.0), times.get("Execution", 0.0))
                )
    return plans


@dataclass(frozen=True)
class SqlFloor:
    inquiries: int
    seconds: float
    mean_ms: float
    p50_ms: float
    p99_ms: float

    def summary(self) -> dict[str, Any]:
        return {
            "inquiries": self.inquiries,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.inquiries / self.seconds, 1) if self.seconds else 0.0,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


def sql_floor(
    url: str,
    lenders: list[LenderKey],
    borrowers: int,
    count: int,
    unknown_share: float,
    rng: random.Random,
    time_limit: float = 60.0,
) -> SqlFloor:
    """One connection replays an inquiry's statements (pre-ping, BEGIN, the five, COMMIT)
    `count` times (bounded by `time_limit`), as the app does but without HTTP, Flask or
    the ORM."""
    latencies = []
    deadline = time.monotonic() + time_limit
    started = time.perf_counter()
    with connect(url) as connection:
        connection.execute("SELECT 1")
        connection.commit()
        for n in range(count):
            if time.monotonic() >= deadline:
                break
            lender = rng.choice(lenders)
            if rng.random() < unknown_share:
                token = unknown_token("sqlfloor", n)
            else:
                token = borrower_token(rng.randint(1, borrowers))
            t0 = time.perf_counter()
            _one_inquiry(connection, lender, token)
            latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return SqlFloor(
        inquiries=len(ordered),
        seconds=seconds,
        mean_ms=round(sum(ordered) / len(ordered) * 1000, 3) if ordered else 0.0,
        p50_ms=round(percentile(ordered, 50) * 1000, 3),
        p99_ms=round(percentile(ordered, 99) * 1000, 3),
    )


def _one_inquiry(connection: psycopg.Connection[Any], lender: LenderKey, token: bytes) -> None:
    params = _params(lender, token, datetime.now(UTC))
    connection.execute(PRE_PING).fetchall()
    for name, sql in INQUIRY_STATEMENTS.items():
        cursor = connection.execute(sql, params)
        if name != "insert":
            cursor.fetchall()
    connection.commit()
