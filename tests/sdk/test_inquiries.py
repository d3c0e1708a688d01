"""Inquiries: the typed report, the requested amount, unreadable answers."""

from __future__ import annotations

import pytest

from lender_client import (
    FlagCode,
    InquiryReport,
    UnexpectedResponseError,
)
from lender_client.inquiry_report import RequestedAmount
from tests.sdk.scripted import (
    AS_OF,
    TOKEN,
    Reply,
    ScriptedServer,
    inquiry_body,
    make_client,
)


def test_inquire_parses_typed_report(server: ScriptedServer) -> None:
    server.script(Reply(200, inquiry_body()))
    with make_client(server.url) as client:
        got = client.inquire(TOKEN, consent_ref="APP-1", amount_requested=5000, currency="CNY")
    assert server.seen[0].json() == {
        "borrower": TOKEN,
        "purpose": "new_credit",
        "consent_ref": "APP-1",
        "amount_requested": 5000,
        "currency": "CNY",
    }
    assert got.summary.open_loans == 3
    assert got.summary.outstanding == {"CNY": 1_234_567}
    assert got.summary.other_lenders_inquiring.last_90d == 4
    assert got.own.outstanding == {"CNY": 100}
    assert got.has_flag(FlagCode.MULTI_LENDER) and got.flag_codes[1] == "SOMETHING_NEW"
    assert got.generated_at == AS_OF
    assert got.raw == inquiry_body()


def test_unreadable_success_bodies(server: ScriptedServer) -> None:
    broken = inquiry_body()
    del broken["summary"]["open_loans"]
    server.script(Reply(200, broken), Reply(200, "not json"), Reply(302, {}, {"Location": "/x"}))
    # No retries: an answer that is not JSON is otherwise asked for again (it may be cut short).
    with make_client(server.url, max_retries=0) as client:
        with pytest.raises(UnexpectedResponseError, match="open_loans"):
            client.inquire(TOKEN, consent_ref="C")
        with pytest.raises(UnexpectedResponseError, match="not JSON"):
            client.get_loan("x")
        with pytest.raises(UnexpectedResponseError, match="redirected"):
            client.get_loan("x")


def test_the_requested_amount_comes_from_the_report() -> None:
    body = inquiry_body()
    body["requested"] = {"amount": 500_000, "currency": "CNY"}
    got = InquiryReport.from_json(body)
    assert got.requested_known
    assert got.requested == RequestedAmount(amount=500_000, currency="CNY")

    body["requested"] = None  # the inquiry gave no amount
    got = InquiryReport.from_json(body)
    assert got.requested_known and got.requested is None

    del body["requested"]  # an older registry: the report does not say
    got = InquiryReport.from_json(body)
    assert not got.requested_known and got.requested is None


@pytest.mark.parametrize(
    "requested", [500_000, {"amount": "500000", "currency": "CNY"}, {"amount": 1}]
)
def test_an_unreadable_requested_amount_is_an_unexpected_response(requested: object) -> None:
    body = inquiry_body()
    body["requested"] = requested
    with pytest.raises(UnexpectedResponseError, match=r"requested|amount|currency"):
        InquiryReport.from_json(body)
