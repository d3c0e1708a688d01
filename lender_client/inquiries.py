"""Inquiries: how indebted a borrower (named by token or by ID) is across all lenders."""

from __future__ import annotations

import logging
from typing import Any

from lender_client.borrower_ids import PHONE, check_borrower_kind, normalize_phone
from lender_client.errors import ValidationError
from lender_client.idempotency import key_or_new, retry_key
from lender_client.models import InquiryReport, Purpose
from lender_client.tokenizing import TokenizingTransport, about_borrower_next
from registry_protocol.ids import normalize_id

__all__ = ["InquiriesAPI"]

log = logging.getLogger("lender_client")


class InquiriesAPI(TokenizingTransport):
    """``POST /v1/inquiries``."""

    def inquire(
        self,
        borrower: str | None = None,
        purpose: Purpose | str = Purpose.NEW_CREDIT,
        consent_ref: str | None = None,
        amount_requested: int | None = None,
        currency: str | None = None,
        *,
        id_kind: str | None = None,
        id_value: str | None = None,
        borrower_next: str | None = None,
        idempotency_key: str | None = None,
        phone: str | None = None,
        phone_token: str | None = None,
    ) -> InquiryReport:
        """Ask how indebted a borrower is across all lenders.

        Name the borrower by token (``borrower``, 64 hex; ``borrower_next`` too during a
        rotation window, if you have it) or by ID (``id_kind`` and ``id_value``): the ID is
        then tokenised first (:meth:`tokenize_pairs`), and both tokens are sent during a
        rotation window. An invalid ID raises :class:`InvalidIdError` before anything is sent.
        A phone number never names the borrower: ``id_kind="phone"`` raises
        :class:`~lender_client.borrower_ids.NotABorrowerKindError` (an ``InvalidIdError``
        whose ``field`` is ``id_kind``).

        ``phone`` is the applicant's phone number, a secondary identifier the registry uses
        for identity signals (``identity`` in the report, ``SHARED_PHONE``): it is normalised
        and tokenised here (kind ``phone``, in the same evaluation request as the ID) and sent
        as ``phone_token``; the number never leaves the process, and a bad one raises
        :class:`InvalidIdError` (kind ``phone``) before anything is sent. ``phone_token``
        gives a token you made yourself instead.

        A ``new_credit`` inquiry needs ``consent_ref``, the reference of the applicant's
        consent; it is recorded and counted in other lenders' ``other_lenders_inquiring``.
        ``amount_requested`` is in minor units.

        The request carries an ``Idempotency-Key`` (``idempotency_key`` if given, else a random
        one) that stays the same on every retry of this call, so an inquiry whose answer was
        lost on the way (a dropped connection, a timeout) and is retried is recorded once: the
        registry answers the retry with the first report. Keys are scoped to the lender and
        the borrower. Passing the same ``idempotency_key`` with the same arguments again gets
        the same report back (same ``inquiry_id``); with different arguments it raises
        :class:`ConflictError` (``/problems/idempotency-conflict``).
        """
        by_id = id_kind is not None or id_value is not None
        if by_id and (borrower is not None or borrower_next is not None):
            raise ValueError("name the borrower by token or by id_kind/id_value, not both")
        if by_id and (id_kind is None or id_value is None):
            raise ValueError("id_kind and id_value go together")
        if not by_id and borrower is None:
            raise ValueError("name the borrower: borrower=<token> or id_kind=..., id_value=...")
        if phone is not None and phone_token is not None:
            raise ValueError("give phone (the number) or phone_token, not both")
        if id_kind is not None:
            check_borrower_kind(id_kind)
        canonical = normalize_id(id_kind, id_value) if by_id else None  # type: ignore[arg-type]
        phone_canonical = normalize_phone(phone) if phone is not None else None

        def body_for(refresh: bool) -> dict[str, Any]:
            body: dict[str, Any] = {}
            ids: list[tuple[str, str]] = []
            if id_kind is not None and canonical is not None:
                ids.append((id_kind, canonical))
            if phone_canonical is not None:
                ids.append((PHONE, phone_canonical))
            pairs = []
            if ids:
                # The ID and the phone in one evaluation request.
                tokenizer = self.tokenizer
                if refresh:
                    tokenizer.key(refresh=True)
                pairs = tokenizer.tokenize_canonical(ids, both=by_id)
            if by_id:
                pair = pairs[0]
                body["borrower"] = pair.borrower
                if pair.borrower_next is not None:
                    body["borrower_next"] = pair.borrower_next
            else:
                body["borrower"] = borrower
                if borrower_next is not None:
                    body["borrower_next"] = borrower_next
            if phone_canonical is not None:
                body["phone_token"] = pairs[-1].borrower
            elif phone_token is not None:
                body["phone_token"] = phone_token
            body["purpose"] = str(purpose)
            if consent_ref is not None:
                body["consent_ref"] = consent_ref
            if amount_requested is not None:
                body["amount_requested"] = amount_requested
            if currency is not None:
                body["currency"] = currency
            return body

        body = body_for(False)
        key = key_or_new(idempotency_key)
        try:
            data = self.request("POST", "/v1/inquiries", json_body=body, idempotency_key=key)
        except ValidationError as exc:
            if not (by_id and "borrower_next" in body and about_borrower_next(exc)):
                raise
            # The rotation window closed since the key was read: read it again and resend.
            log.info("the registry refused borrower_next: refreshing the token key")
            data = self.request(
                "POST", "/v1/inquiries", json_body=body_for(True), idempotency_key=retry_key(key)
            )
        return InquiryReport.from_json(self._json_object(data, "an inquiry"))
