"""The caller's loans: one batch of reports as it is, reading loans back, and retracting one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from lender_client.errors import AlreadyRetractedError, NotFoundError, UnexpectedResponseError
from lender_client.idempotency import key_or_new
from lender_client.models import (
    Loan,
    LoanPage,
    LoanReport,
    LoanStatus,
    Retraction,
    RetractionReason,
    SubmissionResult,
)
from lender_client.tokenizing import TokenizingTransport

__all__ = ["MAX_BATCH_SIZE", "MAX_PAGE_SIZE", "LoansAPI", "path_segment", "to_record"]

MAX_BATCH_SIZE = 5000
MAX_PAGE_SIZE = 1000


def path_segment(value: str) -> str:
    """``value`` as one path segment: every reserved character escaped, and "." too, so that
    "." and ".." stay segments of their own instead of being resolved away."""
    return quote(value, safe="").replace(".", "%2E")


def _loan_path(loan_ref: str) -> str:
    if not loan_ref:
        raise ValueError("loan_ref must not be empty")
    try:
        return "/v1/loans/" + path_segment(loan_ref)
    except UnicodeEncodeError:
        raise ValueError("loan_ref is not valid Unicode (it holds a lone surrogate)") from None


def to_record(item: LoanReport | Mapping[str, Any]) -> Any:
    if isinstance(item, LoanReport):
        return item.to_json()
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"a loan report must be a LoanReport or a mapping, not {type(item).__name__}")


class LoansAPI(TokenizingTransport):
    """``POST /v1/loans`` (one batch) and ``GET /v1/loans[/<ref>]``."""

    def submit_batch(
        self,
        records: Iterable[LoanReport | Mapping[str, Any]],
        idempotency_key: str | None = None,
    ) -> SubmissionResult:
        """Send one ``POST /v1/loans`` of at most 5,000 records, as they are.

        ``rejected[i].index`` in the result is the position within ``records``. Most callers
        want :meth:`report_loans`, which batches any number of records.
        """
        loans = [to_record(r) for r in records]
        if not 1 <= len(loans) <= MAX_BATCH_SIZE:
            raise ValueError(f"a batch must hold 1 to {MAX_BATCH_SIZE} records, not {len(loans)}")
        key = key_or_new(idempotency_key)
        data = self.request("POST", "/v1/loans", json_body={"loans": loans}, idempotency_key=key)
        return SubmissionResult.from_json(self._json_object(data, "an upload"), key)

    def get_loan(self, loan_ref: str) -> Loan:
        """One of the caller's loans by its reference (:class:`NotFoundError` if none).

        Any reference goes through intact, including "." and ".." and ones holding "/", "?",
        "#" or "%".
        """
        data = self.request("GET", _loan_path(loan_ref))
        return Loan.from_json(self._json_object(data, "a loan"))

    def retract(self, loan_ref: str, reason: RetractionReason | str) -> Retraction:
        """Retract one of the caller's loans, reported in error: ``DELETE /v1/loans/<ref>``.

        ``reason`` is ``reported_in_error``, ``wrong_borrower`` or ``duplicate``. The loan and
        its history leave every report at once; the registry keeps an audited tombstone (the
        :class:`Retraction` answered: ``loan_ref``, ``retracted_at``, ``reason``), and the
        ``loan_ref`` can then be reported anew (under the right borrower).

        An unknown or already retracted ``loan_ref`` raises :class:`NotFoundError`. The call is
        retried like any other (connection errors, timeouts, 408, 429, 5xx); when a retry
        finds no such loan after an attempt whose answer was lost, it raises
        :class:`AlreadyRetractedError` (a :class:`NotFoundError`): the lost attempt most likely
        retracted it, and either way the registry no longer holds it.
        """
        reason_text = str(reason)
        if reason_text not in {r.value for r in RetractionReason}:
            choices = ", ".join(r.value for r in RetractionReason)
            raise ValueError(f"reason must be one of {choices}, not {reason_text!r}")
        path = _loan_path(loan_ref)
        try:
            data = self.request("DELETE", path, json_body={"reason": reason_text})
        except NotFoundError as exc:
            if exc.attempts <= 1:
                raise
            lost = AlreadyRetractedError(
                f"loan {loan_ref!r} was not found when the retraction was retried: the earlier "
                "attempt, whose answer was lost, most likely retracted it (or there was no such "
                "loan); the registry holds no loan under this reference now",
                exc.status,
                exc.problem,
                exc.request_id,
            )
            lost.attempts = exc.attempts
            raise lost from exc
        return Retraction.from_json(self._json_object(data, "a retraction"))

    def list_loans(
        self,
        status: LoanStatus | str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> LoanPage:
        """One page of the caller's loans; pass ``next_cursor`` back for the next one."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = str(status)
        if cursor is not None:
            params["cursor"] = cursor
        data = self._json_object(self.request("GET", "/v1/loans", params=params), "a page")
        items = data.get("data")
        next_cursor = data.get("next_cursor")
        if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
            raise UnexpectedResponseError("a page of loans should have data and next_cursor")
        return LoanPage(
            data=[Loan.from_json(self._json_object(i, "a loan")) for i in items],
            next_cursor=next_cursor or None,
        )

    def iter_loans(
        self, status: LoanStatus | str | None = None, page_size: int = 100
    ) -> Iterator[Loan]:
        """Every one of the caller's loans (optionally only those with ``status``), fetching
        pages of ``page_size`` as the iteration goes."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        return self._iter_loans(status, page_size)

    def _iter_loans(self, status: LoanStatus | str | None, page_size: int) -> Iterator[Loan]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_loans(status=status, cursor=cursor, limit=page_size)
            yield from page.data
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise UnexpectedResponseError("the server returned a cursor it had already given")
            seen.add(page.next_cursor)
            cursor = page.next_cursor
