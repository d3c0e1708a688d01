"""A rotation window, the lender's side: what it holds that has no next token yet, and
covering it from its own records.

While the registry rotates its key or the consortium's pepper, every borrower token the
registry stores must get its successor before the window can close. Uploads and inquiries
by ID carry both tokens by themselves, but closed loans, old inquiries and application
outcomes are never sent again. :meth:`RotationAPI.retokenize_ids` covers them: it reads the
list of what is pending (``GET /v1/tokens/rotation/pending``), tokenises the IDs it is given
under the current key (from the local cache, mostly), and for those naming a pending
borrower computes the next token and sends the pair (``POST /v1/tokens/rotation/mappings``).
The IDs never leave the process; the registry learns the pairs of tokens only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lender_client.errors import ConfigurationError, UnexpectedResponseError
from lender_client.parsing import parse_timestamp, required
from lender_client.tokenizing import TokenizingTransport
from registry_protocol.ids import normalize_id

__all__ = [
    "MAX_MAPPINGS",
    "MappingResult",
    "PendingItem",
    "PendingPage",
    "PendingTotals",
    "RetokenizeResult",
    "RotationAPI",
]

#: The most pairs one ``POST /v1/tokens/rotation/mappings`` takes, and the largest page.
MAX_MAPPINGS = 1000
MAX_PENDING_PAGE = 1000


@dataclass(frozen=True, slots=True)
class PendingItem:
    """One row the registry holds for the caller with no next token yet."""

    kind: str  # loan, inquiry, application_outcome or dispute
    borrower: str
    loan_ref: str | None = None
    inquiry_id: str | None = None
    dispute_id: str | None = None
    status: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingItem:
        created = data.get("created_at")
        return cls(
            kind=required(data, "kind", str),
            borrower=required(data, "borrower", str),
            loan_ref=_optional(data, "loan_ref"),
            inquiry_id=_optional(data, "inquiry_id"),
            dispute_id=_optional(data, "dispute_id"),
            status=_optional(data, "status"),
            created_at=parse_timestamp(created) if created is not None else None,
        )


@dataclass(frozen=True, slots=True)
class PendingTotals:
    """Everything pending, by kind (loans by status)."""

    loans: dict[str, int] = field(default_factory=dict)
    inquiries: int = 0
    application_outcomes: int = 0
    disputes: int = 0
    borrowers: int = 0

    @property
    def total(self) -> int:
        return sum(self.loans.values()) + self.inquiries + self.application_outcomes + self.disputes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingTotals:
        loans = required(data, "loans", dict)
        return cls(
            loans={str(status): _count(n) for status, n in loans.items()},
            inquiries=_count(required(data, "inquiries", int)),
            application_outcomes=_count(required(data, "application_outcomes", int)),
            disputes=_count(required(data, "disputes", int)),
            borrowers=_count(required(data, "borrowers", int)),
        )


@dataclass(frozen=True, slots=True)
class PendingPage:
    data: list[PendingItem]
    next_cursor: str | None
    totals: PendingTotals


@dataclass(slots=True)
class MappingResult:
    """What ``POST /v1/tokens/rotation/mappings`` did, summed over the batches sent."""

    matched: int = 0  # borrowers the caller holds rows about
    unmatched: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # by kind

    def add(self, data: Mapping[str, Any]) -> None:
        self.matched += _count(required(data, "matched", int))
        self.unmatched += _count(required(data, "unmatched", int))
        for kind, n in required(data, "rows", dict).items():
            self.rows[str(kind)] = self.rows.get(str(kind), 0) + _count(n)


@dataclass(slots=True)
class RetokenizeResult:
    """What :meth:`RotationAPI.retokenize_ids` covered, and what remains pending."""

    before: PendingTotals
    after: PendingTotals
    ids_read: int = 0
    ids_invalid: int = 0  # skipped: not a valid ID of its kind
    mapped: MappingResult = field(default_factory=MappingResult)

    @property
    def covered(self) -> int:
        return self.before.total - self.after.total


class RotationAPI(TokenizingTransport):
    """``GET /v1/tokens/rotation/pending`` and ``POST /v1/tokens/rotation/mappings``."""

    def rotation_pending(
        self, kind: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> PendingPage:
        """One page of what the caller holds without a next token (loans of every status,
        inquiries and outcomes within retention, disputes of its loans), with the totals.
        Outside a rotation window the registry answers 409 (:class:`ConflictError`)."""
        if not 1 <= limit <= MAX_PENDING_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PENDING_PAGE}")
        params: dict[str, str | int] = {"limit": limit}
        if kind is not None:
            params["kind"] = kind
        if cursor is not None:
            params["cursor"] = cursor
        data = self._json_object(
            self.request("GET", "/v1/tokens/rotation/pending", params=params), "a page"
        )
        try:
            items = required(data, "data", list)
            next_cursor = data.get("next_cursor")
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise TypeError("next_cursor should be a string or null")
            return PendingPage(
                [PendingItem.from_json(self._json_object(item, "a pending row")) for item in items],
                next_cursor or None,
                PendingTotals.from_json(self._json_object(data.get("totals"), "the totals")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable page of pending rows: {exc}") from exc

    def iter_rotation_pending(
        self, kind: str | None = None, page_size: int = MAX_PENDING_PAGE
    ) -> Iterator[PendingItem]:
        """Every pending row, fetching pages as the iteration goes."""
        if not 1 <= page_size <= MAX_PENDING_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_PENDING_PAGE}")
        return self._pending_after(None, kind, page_size)

    def _pending_after(
        self, cursor: str | None, kind: str | None = None, page_size: int = MAX_PENDING_PAGE
    ) -> Iterator[PendingItem]:
        seen: set[str] = set()
        while True:
            page = self.rotation_pending(kind, cursor, page_size)
            yield from page.data
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise UnexpectedResponseError("the server returned a cursor it had already given")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def map_next_tokens(self, pairs: Iterable[tuple[str, str]]) -> MappingResult:
        """Send ``(borrower, borrower_next)`` token pairs, 1,000 a request: every row the
        caller holds about each borrower gets its next token."""
        result = MappingResult()
        batch: list[dict[str, str]] = []
        for borrower, borrower_next in pairs:
            batch.append({"borrower": borrower, "borrower_next": borrower_next})
            if len(batch) == MAX_MAPPINGS:
                result.add(self._send_mappings(batch))
                batch = []
        if batch:
            result.add(self._send_mappings(batch))
        return result

    def _send_mappings(self, batch: list[dict[str, str]]) -> dict[str, Any]:
        answer = self.request("POST", "/v1/tokens/rotation/mappings", json_body={"mappings": batch})
        return self._json_object(answer, "the mappings' answer")

    def retokenize_ids(
        self,
        ids: Iterable[tuple[str, str]],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> RetokenizeResult:
        """Cover what is pending from the caller's own records: ``(id_kind, id_value)`` of
        its borrowers and applicants (closed loans and inquiries included). IDs naming no
        pending borrower cost no evaluation under the next key beyond the cache; an invalid
        ID is skipped and counted, never shown.

        Raises :class:`ConfigurationError` when no rotation window is open, or when the next
        pepper (a pepper rotation) is not configured."""
        key = self.tokenizer.key(refresh=True)
        if key.rotation is None:
            raise ConfigurationError(
                "no rotation window is open at the registry: there is nothing to re-tokenise"
            )
        self.tokenizer.targets(both=True)  # the next pepper or key is usable, before any work
        first = self.rotation_pending(limit=MAX_PENDING_PAGE)
        pending = {item.borrower for item in first.data}
        if first.next_cursor is not None:  # all of it, the first page already read
            pending.update(item.borrower for item in self._pending_after(first.next_cursor))
        result = RetokenizeResult(before=first.totals, after=first.totals)
        canonical: dict[tuple[str, str], None] = {}
        for kind, value in ids:
            result.ids_read += 1
            try:
                canonical[(kind, normalize_id(kind, value))] = None
            except ValueError:
                result.ids_invalid += 1
        if not pending or not canonical:
            return result
        unique = list(canonical)
        current = self.tokenizer.tokenize_canonical(unique, on_progress=on_progress)
        needed = [i for i, pair in zip(unique, current, strict=True) if pair.borrower in pending]
        pairs = self.tokenizer.tokenize_canonical(needed, both=True)
        mappings = {p.borrower: p.borrower_next for p in pairs if p.borrower_next is not None}
        if mappings:
            result.mapped = self.map_next_tokens(mappings.items())
            result.after = self.rotation_pending(limit=1).totals
        return result


def _optional(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key!r} should be a string or null")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a count should be an integer")
    return value
