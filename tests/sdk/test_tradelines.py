"""The SDK's side of issue 9 against the scripted server: the new loan-report fields (sent only
when set), upload warnings (parsed, tolerated when absent, written to the warnings file),
tradelines and the summary additions (and older reports without them), corrections, and
retractions with their errors and retries."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lender_client import (
    AlreadyRetractedError,
    InquiryReport,
    Loan,
    LoanReport,
    NotFoundError,
    PaymentFrequency,
    RetractionReason,
    SpecialEvent,
    SubmissionResult,
    ValidationError,
)
from lender_client.cli import cli
from lender_client.files import open_records
from tests.sdk.scripted import (
    API_KEY,
    HEADER,
    TOKEN,
    Reply,
    ScriptedServer,
    Sleeps,
    csv_row,
    inquiry_body,
    make_client,
    problem,
    report,
    submission,
)

# -- the loan report ----------------------------------------------------------------------


def test_a_report_without_the_new_fields_is_the_same_json_as_before() -> None:
    assert set(report().to_json()) == {
        "loan_ref",
        "borrower",
        "product",
        "currency",
        "principal",
        "outstanding",
        "opened_on",
        "due_on",
        "status",
        "days_past_due",
        "as_of",
    }


def test_the_new_fields_are_sent_when_set() -> None:
    sent = report(
        credit_limit=2_000_000,
        scheduled_payment=45_000,
        payment_frequency=PaymentFrequency.MONTHLY,
        amount_past_due=0,
        closed_on=date(2026, 11, 19),
        special_event=SpecialEvent.REPAID_AFTER_WRITE_OFF,
        correction=True,
    ).to_json()
    assert {k: sent[k] for k in list(sent)[-7:]} == {
        "credit_limit": 2_000_000,
        "scheduled_payment": 45_000,
        "amount_past_due": 0,
        "payment_frequency": "monthly",
        "closed_on": "2026-11-19",
        "special_event": "repaid_after_write_off",
        "correction": True,
    }
    assert LoanReport.from_json(sent).special_event is SpecialEvent.REPAID_AFTER_WRITE_OFF
    assert "correction" not in report(correction=False).to_json()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("credit_limit", 1.5),
        ("amount_past_due", True),
        ("scheduled_payment", "100"),
        ("closed_on", "2026-11-19"),
        ("payment_frequency", 7),
        ("correction", "yes"),
    ],
)
def test_the_new_fields_are_type_checked(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        report(**{name: value})


def test_loan_parses_the_new_fields_and_restates_them() -> None:
    body = {
        **report(due_on=None).to_json(),
        "credit_limit": 5_000_000,
        "scheduled_payment": None,
        "payment_frequency": None,
        "amount_past_due": 100_000,
        "closed_on": None,
        "special_event": "extended",
        "written_off_amount": None,
        "written_off_on": None,
        "first_reported_at": "2026-11-20T10:00:00Z",
        "last_reported_at": "2026-11-20T10:00:00Z",
    }
    loan = Loan.from_json(body)
    assert loan.credit_limit == 5_000_000 and loan.amount_past_due == 100_000
    assert loan.special_event is SpecialEvent.EXTENDED and loan.closed_on is None
    restated = loan.to_report().to_json()
    assert restated["credit_limit"] == 5_000_000 and restated["special_event"] == "extended"
    assert "scheduled_payment" not in restated
    # An older registry's loan has none of them.
    old = {k: v for k, v in body.items() if k in report().to_json() or k.endswith("_at")}
    assert Loan.from_json(old).credit_limit is None


# -- warnings ------------------------------------------------------------------------------


def test_submission_warnings_parsed_and_their_absence_tolerated() -> None:
    answer = submission(accepted=2)
    assert SubmissionResult.from_json(answer, "k").warnings == []
    answer["warnings"] = [
        {"index": 1, "loan_ref": "L-2", "field": "loans[1].days_past_due", "message": "late?"}
    ]
    [warning] = SubmissionResult.from_json(answer, "k").warnings
    assert (warning.index, warning.loan_ref, warning.record_field) == (1, "L-2", "days_past_due")


def test_report_loans_maps_warnings_to_the_stream(server: ScriptedServer) -> None:
    first = submission(accepted=2)
    second = submission(accepted=1)
    second["warnings"] = [
        {"index": 0, "loan_ref": "L-3", "field": "loans[0].days_past_due", "message": "late?"}
    ]
    server.script(Reply(200, first), Reply(200, second))
    with make_client(server.url) as client:
        summary = client.report_loans([report(1), report(2), report(3)], batch_size=2)
    assert summary.warnings_count == 1
    [warning] = summary.warnings
    assert (warning.index, warning.loan_ref, warning.field, warning.batch) == (
        2,
        "L-3",
        "days_past_due",
        1,
    )


def test_upload_writes_the_warnings_file(server: ScriptedServer, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("\n".join([HEADER, csv_row("L-1"), csv_row("L-2")]) + "\n")
    answer = submission(accepted=2)
    answer["warnings"] = [
        {"index": 1, "loan_ref": "L-2", "field": "loans[1].days_past_due", "message": "late?"}
    ]
    server.script(Reply(200, answer))
    result = CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "upload", str(book), "--no-progress"]
    )
    assert result.exit_code == 0, result.output  # warnings do not fail an upload
    assert "Warnings (accepted rows)" in result.stdout
    warnings = Path(f"{book}.warnings.csv").read_text().splitlines()
    assert warnings == ["line,loan_ref,field,message", "3,L-2,days_past_due,late?"]
    assert not Path(f"{book}.rejected.csv").exists()

    # A run without warnings removes the old warnings file.
    server.script(Reply(200, submission(accepted=2)))
    again = CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "upload", str(book), "--no-progress"]
    )
    assert again.exit_code == 0 and "No warnings; removed the old" in again.stdout
    assert not Path(f"{book}.warnings.csv").exists()


def test_upload_help_documents_the_new_columns() -> None:
    result = CliRunner().invoke(cli, ["upload", "--help"])
    for name in (
        "credit_limit",
        "scheduled_payment",
        "payment_frequency",
        "amount_past_due",
        "closed_on",
        "special_event",
        "correction",
        "FILE.warnings.csv",
    ):
        assert name in result.output, name


def test_csv_optional_columns(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    header = HEADER + ",credit_limit,amount_past_due,closed_on,special_event,correction"
    book.write_text(
        "\n".join(
            [
                header,
                csv_row("L-1") + ",,,,,",
                csv_row("L-2", product="credit_line") + ",5000000,12x,2026-11-01,extended,TRUE",
                csv_row("L-3") + ",,,,,false",
            ]
        )
        + "\n"
    )
    with open_records(str(book)) as reader:
        records = [item.data for item in reader]  # type: ignore[union-attr]
    assert set(records[0]) == set(HEADER.split(","))  # empty optional cells are not sent
    assert records[1]["credit_limit"] == 5_000_000
    assert records[1]["amount_past_due"] == "12x"  # the registry says what is wrong
    assert records[1]["correction"] is True and records[1]["closed_on"] == "2026-11-01"
    assert "correction" not in records[2]


# -- the report ----------------------------------------------------------------------------


def tradeline(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lender": "A",
        "own": False,
        "product": "credit_line",
        "currency": "CNY",
        "credit_limit": 5_000_000,
        "outstanding": 4_700_000,
        "amount_past_due": 0,
        "days_past_due": 0,
        "status": "open",
        "special_event": None,
        "opened_month": "2025-01",
        "closed_month": None,
        "last_reported_on": "2026-11-19",
        "age_days": 1,
        "stale": False,
        "status_24m": "NNNN00000003210000000000",
    }
    values.update(overrides)
    return values


def new_report() -> dict[str, Any]:
    body = inquiry_body()
    body["summary"].update(
        {
            "worst_days_past_due_12m": 75,
            "worst_days_past_due_24m": 75,
            "last_delinquent_on": "2026-06-30",
            "written_off_amount": {"CNY": 120_000},
            "amount_past_due": {},
            "monthly_obligations": {"CNY": 145_000},
            "credit_limit": {"CNY": 5_000_000},
            "utilisation": {"CNY": "0.9400"},
            "outstanding_with_request": {"CNY": 1_734_567},
            "lenders_opened_30d": 1,
            "lenders_opened_90d": 2,
            "lenders_opened_180d": 3,
            "loans_closed_90d": 1,
            "stale_open_loans": 1,
        }
    )
    body["flags"] = [
        {"code": "PAST_DUE_HISTORY", "detail": "worst days past due in 24 months: 75 (60)"}
    ]
    body["tradelines"] = [
        tradeline(),
        tradeline(
            lender="B",
            own=True,
            product="cash_loan",
            credit_limit=None,
            outstanding=0,
            status="closed",
            special_event="repaid_after_write_off",
            closed_month="2026-10",
            last_reported_on="2026-08-01",
            age_days=111,
            stale=True,
            status_24m="NNNNNNNNNNNN000012WWWCCN",
        ),
    ]
    return body


def test_report_parses_tradelines_and_the_summary_additions() -> None:
    parsed = InquiryReport.from_json(new_report())
    s = parsed.summary
    assert (s.worst_days_past_due_12m, s.worst_days_past_due_24m) == (75, 75)
    assert s.last_delinquent_on == date(2026, 6, 30)
    assert s.utilisation == {"CNY": Decimal("0.9400")}
    assert s.outstanding_with_request == {"CNY": 1_734_567}
    assert (s.lenders_opened_30d, s.lenders_opened_90d, s.lenders_opened_180d) == (1, 2, 3)
    assert (s.loans_closed_90d, s.stale_open_loans) == (1, 1)
    first, second = parsed.tradelines
    assert first.lender == "A" and not first.own and first.worst_24m == "3"
    assert (
        second.own
        and second.stale
        and second.special_event is SpecialEvent("repaid_after_write_off")
    )
    assert second.last_reported_on == date(2026, 8, 1) and second.worst_24m == "W"
    assert parsed.tradelines_known and parsed.has_flag("PAST_DUE_HISTORY")


def test_an_older_report_has_no_tradelines_and_none_for_the_new_figures() -> None:
    parsed = InquiryReport.from_json(inquiry_body())
    assert parsed.tradelines == [] and not parsed.tradelines_known
    assert parsed.summary.utilisation is None and parsed.summary.stale_open_loans is None


def test_inquire_shows_tradelines_and_the_new_figures(server: ScriptedServer) -> None:
    server.script(Reply(200, new_report()))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "inquire", TOKEN, "--consent-ref", "C"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "Tradelines",
        "B (you)",
        "NNNN00000003210000000000",
        "NNNNNNNNNNNN000012WWWCCN",
        "stale",
        "repaid_after_write_off",
        "Worst days past due (12m/24m)",
        "75/75",
        "94.0% CNY",
        "1,450.00 CNY",  # monthly obligations
        "Lenders that opened loans (30d/90d/180d)",
        "1/2/3",
        "Stale open loans",
        "PAST_DUE_HISTORY",
    ):
        assert text in out, text

    server.script(Reply(200, new_report()))
    options = ["--url", server.url, "--api-key", API_KEY]
    raw = CliRunner().invoke(cli, [*options, "inquire", TOKEN, "--consent-ref", "C", "--json"])
    assert json.loads(raw.stdout) == new_report()


# -- corrections and retractions ------------------------------------------------------------


def test_correct_sends_correction_true(server: ScriptedServer) -> None:
    server.script(Reply(200, submission(accepted=2)))
    with make_client(server.url) as client:
        summary = client.correct([report(1), {**report(2).to_json()}])
    assert summary.accepted == 2
    loans = server.seen[0].json()["loans"]
    assert [loan["correction"] for loan in loans] == [True, True]

    server.script(Reply(200, submission(accepted=1)))
    with make_client(server.url) as client:
        client.correct(report(3))  # one report on its own
    assert server.seen[1].json()["loans"][0]["correction"] is True


TOMBSTONE = {"loan_ref": "L/1", "retracted_at": "2026-11-20T10:00:00Z", "reason": "duplicate"}


def test_retract_sends_delete_with_the_reason(server: ScriptedServer) -> None:
    server.script(Reply(200, TOMBSTONE))
    with make_client(server.url) as client:
        tombstone = client.retract("L/1", RetractionReason.DUPLICATE)
    assert tombstone.loan_ref == "L/1" and tombstone.reason is RetractionReason.DUPLICATE
    seen = server.seen[0]
    assert (seen.method, seen.path, seen.json()) == (
        "DELETE",
        "/v1/loans/L%2F1",
        {"reason": "duplicate"},
    )


def test_retract_refuses_an_unknown_reason_before_sending(server: ScriptedServer) -> None:
    with make_client(server.url) as client, pytest.raises(ValueError, match="reason"):
        client.retract("L-1", "changed_my_mind")
    assert server.seen == []


def test_retract_of_an_unknown_loan_is_not_found(server: ScriptedServer) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "no loan 'L-1'")))
    with make_client(server.url) as client, pytest.raises(NotFoundError) as caught:
        client.retract("L-1", "reported_in_error")
    assert type(caught.value) is NotFoundError and len(server.seen) == 1


def test_retract_is_retried_and_a_lost_first_answer_is_said_clearly(
    server: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    server.script(Reply(503, problem(503, "unavailable", "Unavailable", "try later")))
    server.script(Reply(200, TOMBSTONE))
    with make_client(server.url, sleeps) as client:
        assert client.retract("L/1", "duplicate").loan_ref == "L/1"
    assert len(server.seen) == 2 and len(sleeps.calls) == 1

    # The first attempt retracted it but its answer was lost; the retry finds it gone.
    server.seen.clear()
    server.script(Reply(502, "<html>bad gateway</html>"))
    server.script(Reply(404, problem(404, "not-found", "Not found", "no loan 'L/1'")))
    with make_client(server.url) as client, pytest.raises(AlreadyRetractedError) as caught:
        client.retract("L/1", "duplicate")
    assert isinstance(caught.value, NotFoundError) and caught.value.attempts == 2
    assert "most likely retracted" in str(caught.value)


def test_retract_cli(server: ScriptedServer) -> None:
    base = ["--url", server.url, "--api-key", API_KEY, "--retries", "1"]
    server.script(Reply(200, TOMBSTONE))
    result = CliRunner().invoke(cli, [*base, "retract", "L/1", "--reason", "duplicate"])
    assert result.exit_code == 0, result.output
    assert "Retracted L/1" in result.stdout and "duplicate" in result.stdout

    bad = CliRunner().invoke(cli, [*base, "retract", "L/1", "--reason", "oops"])
    assert bad.exit_code == 2 and "reported_in_error" in bad.stderr

    server.script(Reply(404, problem(404, "not-found", "Not found", "no loan 'L/1'")))
    missing = CliRunner().invoke(cli, [*base, "retract", "L/1", "--reason", "duplicate"])
    assert missing.exit_code == 3 and "HTTP 404" in missing.stderr

    server.script(Reply(503, "down"), Reply(404, problem(404, "not-found", "Not found", "none")))
    lost = CliRunner().invoke(cli, [*base, "retract", "L/1", "--reason", "duplicate"])
    assert lost.exit_code == 0, lost.output
    assert "most likely retracted" in lost.stderr


def test_retract_validation_error_is_raised(server: ScriptedServer) -> None:
    server.script(Reply(400, problem(400, "validation", "Invalid", "bad", errors=[])))
    with make_client(server.url) as client, pytest.raises(ValidationError):
        client.retract("L-1", "duplicate")
