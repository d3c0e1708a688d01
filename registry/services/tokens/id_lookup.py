"""An operator's look-up by ID, registry side: one blinded element evaluated for the console.

The token itself is made in the operator's browser (registry/console/static/console/
borrower_token.js), as a lender's SDK makes it: the ID, its normal form, the consortium pepper
and the HMAC never leave the browser, and no registry process ever receives them. The
registry sees one blinded element (a uniformly random group element), evaluates it under the
current key with a proof, and learns neither the ID nor the token that results; the browser
then looks the token up like any other (audited as `lookup`, with the reason).

Each evaluation is one online guess at an ID, as a lender's is: it is audited as one
`token_evaluation` event (the operator, the kind of ID, the key and the reason; no ID, no
token) and capped per operator and UTC day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import AuditEvent
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput
from registry.services.tokens.evaluation import Batch, decode_elements
from registry.services.tokens.keys import key_info
from registry.services.tokens.quota import QuotaExceeded
from registry_protocol.ids import BORROWER_KINDS

EVALUATION_ACTION = "token_evaluation"
# An operator's look-ups by ID are a handful a day (disputes, disclosures); a stolen session
# or a curious insider holding the pepper gets no more guesses than this.
OPERATOR_EVALUATIONS_PER_DAY = 100


def _parse(blinded_element: str, id_kind: str, key_id: str, current_key_id: str) -> list[bytes]:
    """The element, with every field's error at once."""
    errors: list[FieldError] = []
    blinded: list[bytes] = []
    try:
        blinded = decode_elements([blinded_element.strip().lower()])
    except InvalidInput as exc:
        errors.extend(FieldError("blinded_element", e.message) for e in exc.errors)
    if id_kind not in BORROWER_KINDS:
        errors.append(FieldError("id_kind", f"one of {', '.join(BORROWER_KINDS)}"))
    if key_id != current_key_id:
        errors.append(FieldError("key_id", "the registry's token key has changed: reload the page"))
    if errors:
        raise InvalidInput("the evaluation request is invalid", errors)
    return blinded


def evaluations_today(session: Session, actor: audit.Actor, now: datetime) -> int:
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    used = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.actor == actor.name,
            AuditEvent.occurred_at >= midnight,
            AuditEvent.action == EVALUATION_ACTION,
        )
    )
    return used or 0


def charge_operator_evaluation(
    session: Session,
    blinded_element: str,
    id_kind: str,
    key_id: str,
    reason: str,
    now: datetime,
    actor: audit.Actor,
) -> Batch:
    """Check one blinded element from the console (under the current key, `key_id` being the
    one the page published; `reason` as `services.lookup.parse_reason` made it), count it
    against the operator's day (QuotaExceeded past OPERATOR_EVALUATIONS_PER_DAY) and audit it.
    Commit before `evaluation.evaluate`.

    Two evaluations racing at the cap may both pass: the cap bounds guesses, it is not a
    ledger, and each of them is in the audit log all the same."""
    info = key_info(session)
    blinded = _parse(blinded_element, id_kind, key_id, info.current.key_id)
    if evaluations_today(session, actor, now) >= OPERATOR_EVALUATIONS_PER_DAY:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)
        raise QuotaExceeded(
            f"you have made {OPERATOR_EVALUATIONS_PER_DAY} look-ups by ID today, the most an "
            "operator may; it resets at 00:00 UTC",
            retry_after=max(1, int((tomorrow - now).total_seconds())),
        )
    audit.record(
        session,
        actor,
        EVALUATION_ACTION,
        now,
        f"key:{info.current.key_id}",
        {"id_kind": id_kind, "reason": reason},
    )
    session.flush()
    return Batch(info.current.key_id, frozenset(info.live_key_ids), blinded)
