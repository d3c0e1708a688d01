"""Which IDs name a borrower, and the phone as a secondary identifier.

One person is one borrower: a loan or an inquiry names its borrower by a person or entity ID
(``cn_resident_id``, ``passport``, ``cn_uscc``). A phone number is recycled and shared, so it
never names the borrower; it may travel beside the borrower as ``phone``, which the SDK turns
into a ``phone_token`` with the same pepper and VOPRF path (kind ``phone``) and sends instead.

Nothing here ever quotes an ID or a phone number: messages give the kind and the reason only.
"""

from __future__ import annotations

from registry_protocol.ids import BORROWER_KINDS, InvalidIdError, normalize_id

__all__ = [
    "BORROWER_KINDS",
    "PHONE",
    "PHONE_IS_SECONDARY",
    "NotABorrowerKindError",
    "check_borrower_kind",
    "normalize_phone",
]

PHONE = "phone"
#: Why ``phone`` is refused as the borrower's kind, and what to do instead.
PHONE_IS_SECONDARY = (
    "phone is a secondary identifier, not the borrower's ID: name the borrower by "
    + ", ".join(BORROWER_KINDS)
    + ", and give the phone number as phone"
)


class NotABorrowerKindError(InvalidIdError):
    """``id_kind`` names a kind of ID that cannot name a borrower (``phone``).

    An :class:`~registry_protocol.ids.InvalidIdError` (so a ``ValueError``), whose ``field``
    is ``"id_kind"``: the value itself is never in the message."""

    field = "id_kind"

    def __str__(self) -> str:
        return f"id_kind: {self.reason}"


def check_borrower_kind(kind: str) -> None:
    """Refuse ``phone`` as the borrower's kind (:class:`NotABorrowerKindError`). An unknown
    kind is left to :func:`~registry_protocol.ids.normalize_id`, which refuses it too."""
    if kind == PHONE:
        raise NotABorrowerKindError(PHONE, PHONE_IS_SECONDARY)


def normalize_phone(value: object) -> str:
    """The canonical (E.164) form of a borrower's phone number, or
    :class:`~registry_protocol.ids.InvalidIdError` (kind ``phone``, never the number)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdError(PHONE, "the phone number must be non-empty text")
    return normalize_id(PHONE, value)
