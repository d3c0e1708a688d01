"""Identity figures from the borrower's phone tokens (which are never shown).

- `phones_90d`: distinct phone tokens seen with this borrower (in any lender's loan report or
  inquiry) at or after now - 90 days;
- `max_borrowers_per_phone`: over those phones, the most distinct borrowers seen with one of
  them at or after now - 90 days, this borrower included (a phone seen with this borrower
  alone gives 1; no phone gives 0).

Two reads, each by its table's first key (Citus-friendly: no join across distribution
columns): the borrower's phones in `borrower_phones`, then, when there are any, their
borrowers in `phone_borrowers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import BorrowerPhone, PhoneBorrower

IDENTITY_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Identity:
    phones_90d: int = 0
    max_borrowers_per_phone: int = 0


# Built once (the inquiry's hot path).
_PHONES = select(BorrowerPhone.phone).where(
    BorrowerPhone.borrower == bindparam("borrower"),
    BorrowerPhone.last_seen_at >= bindparam("since"),
)
_BORROWERS_PER_PHONE = (
    select(PhoneBorrower.phone, func.count())
    .where(
        PhoneBorrower.phone.in_(bindparam("phones", expanding=True)),
        PhoneBorrower.last_seen_at >= bindparam("since"),
    )
    .group_by(PhoneBorrower.phone)
)


def read_identity(
    session: Session, borrower: bytes, now: datetime, phone: bytes | None = None
) -> Identity:
    """The figures at `now`; `phone`, when given, counts as seen with `borrower` at `now`
    (the inquiry bringing it records the sighting after reading)."""
    since = now - IDENTITY_WINDOW
    seen = set(core(session).scalars(_PHONES, {"borrower": borrower, "since": since}))
    phones = seen | {phone} if phone is not None else seen
    if not phones:
        return Identity()
    counts = dict(
        core(session)
        .execute(_BORROWERS_PER_PHONE, {"phones": sorted(phones), "since": since})
        .tuples()
        .all()
    )
    if phone is not None and phone not in seen:  # this borrower is new to the phone's count
        counts[phone] = counts.get(phone, 0) + 1
    # Both tables hold each sighting; at least 1 (this borrower) whatever the other says.
    most = max((int(count) for count in counts.values()), default=1)
    return Identity(phones_90d=len(phones), max_borrowers_per_phone=max(most, 1))
