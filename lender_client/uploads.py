"""Uploads of any size: a stream of loan reports sent in batches, IDs tokenised a batch at a
time, rejections mapped back to each record's position in the stream."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lender_client.borrower_ids import (
    BORROWER_KINDS,
    PHONE,
    PHONE_IS_SECONDARY,
    normalize_phone,
)
from lender_client.errors import FieldError, RegistryError, ValidationError
from lender_client.idempotency import check_key_prefix, new_idempotency_key, retry_key
from lender_client.loans import MAX_BATCH_SIZE, LoansAPI, to_record
from lender_client.models import (
    BatchResult,
    LoanReport,
    Rejection,
    SubmissionResult,
    UploadSummary,
    UploadWarning,
)
from lender_client.tokenizing import about_borrower_next
from registry_protocol.ids import InvalidIdError, normalize_id

__all__ = ["UploadsAPI"]

log = logging.getLogger("lender_client")


@dataclass
class _PreparedBatch:
    """A batch ready to send: its records (tokenised), each one's position in the batch, and
    the records refused before sending."""

    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    tokenized: int = 0
    with_next: int = 0


def _id_problem(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(field, message)`` if a record's ID fields cannot even be normalised: missing, not
    text, an unknown kind, or a borrower given as well. Never quotes a value: a value in
    the wrong column may be an ID."""
    if "borrower" in item or "borrower_next" in item:
        return "borrower", "give either borrower (a token) or id_kind and id_value, not both"
    kind, value = item.get("id_kind"), item.get("id_value")
    if not isinstance(kind, str) or not kind:
        return "id_kind", "required: the kind of ID, one of " + ", ".join(BORROWER_KINDS)
    if kind == PHONE:
        return "id_kind", PHONE_IS_SECONDARY
    if kind not in BORROWER_KINDS:
        return "id_kind", "unknown kind of ID; the kinds are " + ", ".join(BORROWER_KINDS)
    if not isinstance(value, str) or not value.strip():
        return "id_value", f"required: the borrower's {kind} as text"
    return None


def _invalid_id(exc: InvalidIdError) -> tuple[str, str]:
    kind = exc.kind if exc.kind in BORROWER_KINDS else None
    if kind is None:
        return "id_kind", "unknown kind of ID; the kinds are " + ", ".join(BORROWER_KINDS)
    return "id_value", f"not a valid {kind}: {exc.reason}"


def _phone_canonical(item: Mapping[str, Any]) -> tuple[str | None, tuple[str, str] | None]:
    """A record's phone number normalised (``None`` if it has none), or the ``(field,
    message)`` refusing it: the kind and the reason, never the number."""
    if item.get("phone") is None:  # no phone, or null in JSON Lines: nothing to send
        return None, None
    if "phone_token" in item:
        return None, ("phone", "give phone (the number) or phone_token, not both")
    try:
        return normalize_phone(item["phone"]), None
    except InvalidIdError as exc:
        return None, ("phone", f"not a valid phone number: {exc.reason}")


class UploadsAPI(LoansAPI):
    """:meth:`report_loans`: any number of loan reports, in batches."""

    def report_loans(
        self,
        reports: Iterable[LoanReport | Mapping[str, Any]],
        batch_size: int = 1000,
        on_batch: Callable[[BatchResult], None] | None = None,
        *,
        idempotency_key_prefix: str | None = None,
        keep_rejections: bool = True,
        on_tokens: Callable[[int], None] | None = None,
        skip_batch: Callable[[int, list[dict[str, Any]]], bool] | None = None,
        parallel: int = 1,
    ) -> UploadSummary:
        """Report any number of loans, streaming them to the registry in batches.

        ``reports`` is consumed lazily, one batch at a time, so it can be a generator over a
        file of any size. Each batch is one ``POST /v1/loans`` with its own idempotency key
        (random, or ``f"{idempotency_key_prefix}-{n}"`` for batch ``n`` if a prefix is given,
        which lets a re-run of the same stream replay instead of re-apply); retries of a batch
        reuse its key. Reporting is idempotent on the server anyway: a record already held
        as it is counts as ``unchanged``, one older than what is held as ``stale``.

        A prefix is checked before anything is sent (``ValueError``): every key the upload
        can use must be valid, 1-255 printable ASCII characters. For a stream of unknown
        length that means leaving room for the number of the last batch ``sys.maxsize``
        records would make (16 digits at ``batch_size=1000``).

        The summary's rejections, and its warnings (records accepted with a remark, such as an
        open loan long past its due date with nothing past due), carry the record's 0-based
        position in ``reports``.
        ``on_batch`` is called after each batch with its :class:`BatchResult` (for progress).
        With ``keep_rejections=False`` the summary only counts rejections (use ``on_batch`` to
        see them), so that memory stays flat however many are rejected.

        A record may name its borrower by ID instead of by token: a :class:`LoanReport` with
        ``id_kind`` and ``id_value``, or a mapping with those keys in place of ``borrower``.
        Those are tokenised a batch at a time (see :meth:`tokenize_pairs`; ``on_tokens`` is
        called with the number of IDs done, for progress) and sent with ``borrower`` and,
        during a rotation window, ``borrower_next``. A record whose ID is not valid is not
        sent: it is a rejection (field ``id_value``, or ``id_kind`` for an unknown kind)
        whose message gives the kind and the reason, never the value. ``phone`` never names
        the borrower (a rejection on ``id_kind``): the kinds are ``cn_resident_id``,
        ``passport`` and ``cn_uscc``.

        A record may also carry the borrower's phone number, ``phone`` (a secondary
        identifier): it is normalised and tokenised with the batch's IDs (kind ``phone``, in
        the same evaluation requests) and sent as ``phone_token``; the number itself never
        leaves the process. A bad number is a rejection on ``phone`` (without the number).

        If a batch fails for good, its exception is raised with ``partial_summary`` set to
        what the batches before it achieved.

        ``skip_batch(n, records)`` is asked about each batch before it is sent (with its
        records as given, before any tokenising): ``True`` passes over it, unsent and
        uncounted, and ``on_batch`` is not called for it; numbers, idempotency keys and
        positions go on as if it had been sent. A resumed upload uses it to skip the batches
        an earlier run had sent and the registry acknowledged (see
        :mod:`lender_client.checkpoint`).

        ``parallel`` batches are tokenised and sent at once (threads sharing the client's
        connection pool); their results are still counted, and ``on_batch`` called, in batch
        order, so a failure's ``partial_summary`` and a checkpoint hold only batches whose
        earlier batches were all acknowledged too. The registry takes one batch of a lender at a
        time, so ``parallel=2`` overlaps one batch's reading, tokenising and encoding here
        with another's work there; more seldom helps.
        """
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
        if idempotency_key_prefix is not None:
            check_key_prefix(idempotency_key_prefix, reports, batch_size)
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        summary = UploadSummary()
        started = time.monotonic()
        iterator = iter(reports)
        skipped_records = 0
        # Batches in flight, oldest first: their results are counted in batch order.
        in_flight: collections.deque[tuple[Future[BatchResult], int]] = collections.deque()
        pool = ThreadPoolExecutor(parallel, "upload") if parallel > 1 else None

        def settle(future: Future[BatchResult]) -> None:
            try:
                batch = future.result()
            except RegistryError as exc:
                summary.elapsed = time.monotonic() - started
                exc.partial_summary = summary
                raise
            summary.add(batch, keep_rejections)
            summary.elapsed = time.monotonic() - started
            if on_batch is not None:
                on_batch(batch)

        try:
            for batch_no in itertools.count():
                items = [to_record(r) for r in itertools.islice(iterator, batch_size)]
                if not items:
                    break
                if skip_batch is not None and skip_batch(batch_no, items):
                    skipped_records += len(items)
                    continue
                key = (
                    f"{idempotency_key_prefix}-{batch_no}"
                    if idempotency_key_prefix is not None
                    else new_idempotency_key()
                )
                offset = summary.records + skipped_records + sum(n for _, n in in_flight)
                args = (items, offset, batch_no, key, on_tokens)
                if pool is None:
                    done: Future[BatchResult] = Future()
                    try:
                        done.set_result(self._send_batch(*args))
                    except RegistryError as exc:
                        done.set_exception(exc)
                    settle(done)
                    continue
                in_flight.append((pool.submit(self._send_batch, *args), len(items)))
                if len(in_flight) >= parallel:
                    settle(in_flight.popleft()[0])
            while in_flight:
                settle(in_flight.popleft()[0])
        finally:
            if pool is not None:
                for future, _ in in_flight:
                    future.cancel()
                pool.shutdown(wait=True)
        summary.elapsed = time.monotonic() - started
        return summary

    def _send_batch(
        self,
        items: list[dict[str, Any]],
        offset: int,
        batch_no: int,
        key: str,
        on_tokens: Callable[[int], None] | None,
    ) -> BatchResult:
        """Tokenise and send one batch; its result, positions counted from ``offset``."""
        batch_started = time.monotonic()
        prepared = self._prepare_batch(items, offset, batch_no, on_tokens)
        rejected = list(prepared.rejected)
        warnings: list[UploadWarning] = []
        submission_id = ""
        accepted = unchanged = stale = 0
        if prepared.records:
            result = self._submit_prepared(prepared, items, offset, batch_no, key, on_tokens)
            submission_id = result.submission_id
            accepted, unchanged, stale = result.accepted, result.unchanged, result.stale
            rejected.extend(
                Rejection(
                    index=offset + prepared.positions[r.index]
                    if 0 <= r.index < len(prepared.positions)
                    else offset + r.index,
                    loan_ref=r.loan_ref,
                    errors=[FieldError(e.record_field, e.message) for e in r.errors],
                    batch=batch_no,
                )
                for r in result.rejected
            )
            warnings.extend(
                UploadWarning(
                    index=offset + prepared.positions[w.index]
                    if 0 <= w.index < len(prepared.positions)
                    else offset + w.index,
                    loan_ref=w.loan_ref,
                    field=w.record_field,
                    message=w.message,
                    batch=batch_no,
                )
                for w in result.warnings
            )
        rejected.sort(key=lambda r: r.index)
        warnings.sort(key=lambda w: w.index)
        log.debug(
            "batch %d: %d records, %d tokenised, submission %s",
            batch_no,
            len(items),
            prepared.tokenized,
            submission_id or "(none sent)",
        )
        return BatchResult(
            batch=batch_no,
            start_index=offset,
            size=len(items),
            submission_id=submission_id,
            idempotency_key=key if prepared.records else "",
            accepted=accepted,
            unchanged=unchanged,
            stale=stale,
            rejected=rejected,
            elapsed=time.monotonic() - batch_started,
            tokenized=prepared.tokenized,
            rejected_locally=len(prepared.rejected),
            warnings=warnings,
        )

    def correct(
        self,
        reports: LoanReport | Mapping[str, Any] | Iterable[LoanReport | Mapping[str, Any]],
        batch_size: int = 1000,
        on_batch: Callable[[BatchResult], None] | None = None,
        *,
        idempotency_key_prefix: str | None = None,
        keep_rejections: bool = True,
    ) -> UploadSummary:
        """Correct past states: each report is sent with ``"correction": true``.

        A correction's ``as_of`` names a state the registry stored for that loan; the
        correction replaces that state (and the loan's current state, if it was the newest),
        and the replaced one is kept in the registry's audit trail, never in reports. A
        correction whose ``as_of`` matches no stored state is rejected (field ``as_of``).

        ``reports`` is one report (a :class:`LoanReport` or a mapping) or any number of them,
        sent as :meth:`report_loans` sends them (batches, retries, IDs tokenised); the
        summary's ``accepted`` counts the corrections applied.
        """
        items: Iterable[LoanReport | Mapping[str, Any]] = (
            [reports] if isinstance(reports, LoanReport | Mapping) else reports
        )
        return self.report_loans(
            _as_corrections(items),
            batch_size,
            on_batch,
            idempotency_key_prefix=idempotency_key_prefix,
            keep_rejections=keep_rejections,
        )

    def _prepare_batch(
        self,
        items: list[dict[str, Any]],
        offset: int,
        batch_no: int,
        on_tokens: Callable[[int], None] | None,
        refresh_key: bool = False,
    ) -> _PreparedBatch:
        """Tokenise the records of a batch that name their borrower by ID or carry a phone
        number (both in one evaluation per batch); records with a bad ID or phone become
        local rejections (never sent). The records are copied, not changed."""
        out = _PreparedBatch()
        # (position, record, (kind, canonical ID) or None, canonical phone or None)
        pending: list[tuple[int, dict[str, Any], tuple[str, str] | None, str | None]] = []
        for position, item in enumerate(items):
            by_id = "id_kind" in item or "id_value" in item
            if not by_id and "phone" not in item:
                out.positions.append(position)
                out.records.append(item)
                continue
            record = {k: v for k, v in item.items() if k not in ("id_kind", "id_value", "phone")}
            borrower_id: tuple[str, str] | None = None
            problem = _id_problem(item) if by_id else None
            if by_id and problem is None:
                kind, value = item["id_kind"], item["id_value"]
                try:
                    borrower_id = (kind, normalize_id(kind, value))
                except InvalidIdError as exc:
                    problem = _invalid_id(exc)
            phone, phone_problem = _phone_canonical(item)
            problem = problem or phone_problem
            if problem is None:
                pending.append((position, record, borrower_id, phone))
                continue
            ref = item.get("loan_ref")
            out.rejected.append(
                Rejection(
                    index=offset + position,
                    loan_ref=ref if isinstance(ref, str) else None,
                    errors=[FieldError(*problem)],
                    batch=batch_no,
                )
            )
        if pending:
            tokenizer = self.tokenizer
            if refresh_key:
                tokenizer.key(refresh=True)
            # Borrower IDs and phones in one call: one evaluation per batch, not per record.
            ids: list[tuple[str, str]] = []
            for _, _, borrower_id, phone in pending:
                if borrower_id is not None:
                    ids.append(borrower_id)
                if phone is not None:
                    ids.append((PHONE, phone))
            pairs = iter(tokenizer.tokenize_canonical(ids, both=True, on_progress=on_tokens))
            for position, record, borrower_id, phone in pending:
                if borrower_id is not None:
                    pair = next(pairs)
                    record["borrower"] = pair.borrower
                    if pair.borrower_next is not None:
                        record["borrower_next"] = pair.borrower_next
                        out.with_next += 1
                    out.tokenized += 1
                if phone is not None:
                    # The phone's current token only: the wire has no phone_token_next.
                    record["phone_token"] = next(pairs).borrower
                out.positions.append(position)
                out.records.append(record)
            order = sorted(range(len(out.positions)), key=out.positions.__getitem__)
            out.positions = [out.positions[i] for i in order]
            out.records = [out.records[i] for i in order]
        return out

    def _submit_prepared(
        self,
        prepared: _PreparedBatch,
        items: list[dict[str, Any]],
        offset: int,
        batch_no: int,
        key: str,
        on_tokens: Callable[[int], None] | None,
    ) -> SubmissionResult:
        try:
            return self.submit_batch(prepared.records, idempotency_key=key)
        except ValidationError as exc:
            if not prepared.with_next or not about_borrower_next(exc):
                raise
        # The rotation window closed (or changed) since the key was read: read it again,
        # tokenise again and send once more (another body, so another idempotency key).
        log.info("the registry refused borrower_next: refreshing the token key")
        again = self._prepare_batch(items, offset, batch_no, on_tokens, refresh_key=True)
        prepared.records, prepared.positions = again.records, again.positions
        return self.submit_batch(prepared.records, idempotency_key=retry_key(key))


def _as_corrections(
    items: Iterable[LoanReport | Mapping[str, Any]],
) -> Iterator[LoanReport | dict[str, Any]]:
    for item in items:
        if isinstance(item, LoanReport):
            yield dataclasses.replace(item, correction=True)
        elif isinstance(item, Mapping):
            yield {**item, "correction": True}
        else:
            raise TypeError(
                f"a loan report must be a LoanReport or a mapping, not {type(item).__name__}"
            )
