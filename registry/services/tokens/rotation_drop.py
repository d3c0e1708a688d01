"""The operator's way out of a conflict between lenders' mappings (`registry keys
drop-mapping`): one lender's next tokens for some borrowers are dropped, and its rows about
them follow what the other lenders agree on, so that one member with a wrong pepper or key
cannot hold a rotation up. Audited."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.models import Lender
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.tokens.keys import open_rotation
from registry.services.tokens.rotation_pending import set_next_tokens
from registry.services.tokens.rotation_rows import HOLDINGS, chunks, lender_pairs
from registry.services.tokens.rotation_status import conflicting_tokens_of

TOKEN = re.compile(r"[0-9a-f]{64}")
# The audit event names this many of the borrowers (and counts all of them).
AUDITED_TOKENS = 100


@dataclass
class DropResult:
    lender: str
    tokens: int = 0  # old tokens whose next token from the lender was dropped
    rows: dict[str, int] = field(default_factory=dict)  # by kind: rows that carried one
    adopted: int = 0  # tokens whose rows now carry the one next token other lenders agree on
    waiting: int = 0  # tokens no other lender maps (or maps consistently): rows wait


def drop_mapping(
    session: Session,
    lender_code: str,
    borrowers: list[str] | None,
    now: datetime,
    actor: audit.Actor,
    reason: str = "",
) -> DropResult:
    """Drop the lender's next tokens for `borrowers` (old tokens, hex), or, with None, for
    every old token it maps that is in a conflict."""
    lender = session.scalar(select(Lender).where(Lender.code == lender_code.strip().lower()))
    if lender is None:
        raise NotFound(f"no lender with code {lender_code!r}")
    # Its uploads and mappings wait until this is done (a retire holds every lender).
    session.execute(select(Lender.id).where(Lender.id == lender.id).with_for_update())
    rotation = open_rotation(session)
    if rotation is None:
        raise NotFound("no rotation window is open")
    if borrowers is None:
        olds = conflicting_tokens_of(session, lender.id)
        if not olds:
            raise Conflict(
                f"{lender.code} has no mapping in a conflict; name the borrowers' old tokens "
                "to drop others (--borrower)"
            )
    else:
        olds = _parse(borrowers)
    result = DropResult(lender.code)
    dropped: set[bytes] = set()
    for holding in HOLDINGS:
        t = holding.table
        count = 0
        for part in chunks(olds):
            mine = (t.c.lender_id == lender.id, t.c.borrower.in_(part))
            for old, n in session.execute(
                select(t.c.borrower, func.count())
                .where(*mine, t.c.borrower_next.is_not(None))
                .group_by(t.c.borrower)
            ):
                dropped.add(bytes(old))
                count += int(n)
            session.execute(
                update(t)
                .where(*mine)
                .values(borrower_next=None)
                .execution_options(synchronize_session=False)
            )
        result.rows[holding.kind] = count
    if not dropped:
        raise NotFound(f"{lender.code} has no next token for the borrower(s) named")
    result.tokens = len(dropped)
    agreed = _agreed_elsewhere(session, sorted(dropped))
    if agreed:
        set_next_tokens(session, lender.id, sorted(agreed.items()))
    result.adopted, result.waiting = len(agreed), len(dropped) - len(agreed)
    named = sorted(token.hex() for token in dropped)
    audit.record(
        session,
        actor,
        "token_mapping_dropped",
        now,
        f"lender:{lender.code}",
        {
            "rotation": rotation.id,
            "reason": reason,
            "tokens": result.tokens,
            "borrowers": named[:AUDITED_TOKENS],
            "rows": result.rows,
            "adopted": result.adopted,
            "waiting": result.waiting,
        },
    )
    session.flush()
    return result


def _agreed_elsewhere(session: Session, olds: list[bytes]) -> dict[bytes, bytes]:
    """For each old token, the next token the remaining mappings agree on (if exactly one)."""
    pairs = lender_pairs().subquery()
    found: dict[bytes, set[bytes]] = defaultdict(set)
    for part in chunks(olds):
        for old, new in session.execute(
            select(pairs.c.old, pairs.c.new).where(pairs.c.old.in_(part)).distinct()
        ):
            found[bytes(old)].add(bytes(new))
    return {old: next(iter(news)) for old, news in found.items() if len(news) == 1}


def _parse(borrowers: list[str]) -> list[bytes]:
    errors = [
        FieldError("borrower", f"{value!r} is not a token: 64 lower-case hex characters")
        for value in borrowers
        if not TOKEN.fullmatch(value.strip().lower())
    ]
    if errors or not borrowers:
        raise InvalidInput(
            "the borrowers are invalid", errors or [FieldError("borrower", "name at least one")]
        )
    return sorted({bytes.fromhex(value.strip().lower()) for value in borrowers})
