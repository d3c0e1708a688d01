"""The report's parts of issue 10 in the SDK and in `lender-client inquire`'s printout: other
lenders' pending applications and provisional loans, the 1-hour and 24-hour windows, the
identity figures, provisional tradelines and the new flags; and an older report without them."""

from __future__ import annotations

from datetime import date
from typing import Any

from click.testing import CliRunner

from lender_client import FlagCode, Identity, InquiryReport, LoanStatus
from lender_client.cli import cli
from tests.sdk.scripted import API_KEY, TOKEN, Reply, ScriptedServer, inquiry_body


def provisional_line(**overrides: Any) -> dict[str, Any]:
    line = {
        "lender": "B",
        "own": False,
        "product": None,
        "currency": "CNY",
        "credit_limit": 300_000,
        "outstanding": 300_000,
        "amount_past_due": 0,
        "days_past_due": 0,
        "status": "provisional",
        "special_event": None,
        "opened_month": "2026-11",
        "closed_month": None,
        "last_reported_on": "2026-11-28",
        "age_days": 0,
        "stale": False,
        "status_24m": "",
        "provisional_until": "2026-12-12",
    }
    line.update(overrides)
    return line


def loan_line() -> dict[str, Any]:
    return provisional_line(
        lender="A",
        product="cash_loan",
        status="open",
        credit_limit=500_000,
        outstanding=420_000,
        opened_month="2026-03",
        last_reported_on="2026-11-20",
        age_days=8,
        status_24m="N" * 15 + "0" * 9,
        provisional_until=None,
    )


def burst_report() -> dict[str, Any]:
    body = inquiry_body()
    body["summary"].update(
        {
            "other_lenders_inquiring": {
                "1h": 2,
                "24h": 3,
                "1d": 3,
                "7d": 4,
                "30d": 4,
                "90d": 5,
            },
            "pending_applications": 1,
            "pending_amount": {"CNY": 500_000},
            "provisional_loans": 2,
            "provisional_amount": {"CNY": 600_000, "USD": 1_000},
        }
    )
    body["identity"] = {"phones_90d": 2, "max_borrowers_per_phone": 4}
    body["tradelines"] = [
        loan_line(),
        provisional_line(),
        provisional_line(lender="C", currency="USD", credit_limit=1_000, outstanding=1_000),
    ]
    body["flags"] = [
        {"code": "APPLICATION_BURST", "detail": "3 other lenders made credit inquiries"},
        {"code": "PENDING_ELSEWHERE", "detail": "1 pending application(s) and 2 provisional"},
        {"code": "SHARED_PHONE", "detail": "one of this borrower's phones was seen with 4"},
    ]
    return body


def test_the_new_figures_are_parsed() -> None:
    report = InquiryReport.from_json(burst_report())
    s = report.summary
    assert (s.other_lenders_inquiring.last_1h, s.other_lenders_inquiring.last_24h) == (2, 3)
    assert s.other_lenders_inquiring.last_1d == 3
    assert s.pending_applications == 1 and s.pending_amount == {"CNY": 500_000}
    assert s.provisional_loans == 2
    assert s.provisional_amount == {"CNY": 600_000, "USD": 1_000}
    assert report.identity == Identity(phones_90d=2, max_borrowers_per_phone=4)
    assert report.flag_codes == ["APPLICATION_BURST", "PENDING_ELSEWHERE", "SHARED_PHONE"]
    assert report.has_flag(FlagCode.APPLICATION_BURST) and report.has_flag("SHARED_PHONE")

    real, provisional, _ = report.tradelines
    assert not real.provisional and real.status == LoanStatus.OPEN
    assert real.provisional_until is None
    assert provisional.provisional and provisional.status == "provisional"
    assert provisional.product is None and provisional.outstanding == 300_000
    assert provisional.provisional_until == date(2026, 12, 12)


def test_an_older_report_has_none_of_them() -> None:
    report = InquiryReport.from_json(inquiry_body())
    s = report.summary
    assert s.other_lenders_inquiring.last_1h is None and s.other_lenders_inquiring.last_24h is None
    assert s.pending_applications is None and s.pending_amount is None
    assert s.provisional_loans is None and s.provisional_amount is None
    assert report.identity is None


def inquire(server: ScriptedServer, body: dict[str, Any], *args: str) -> str:
    server.script(Reply(200, body))
    result = CliRunner(env={"COLUMNS": "160"}).invoke(
        cli,
        [
            "--url",
            server.url,
            "--api-key",
            API_KEY,
            "inquire",
            TOKEN,
            "--consent-ref",
            "C-1",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def row(output: str, label: str) -> str:
    """The value cell of the summary row `label`."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0] == label:
            return cells[-1]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def test_the_printout_shows_applications_windows_identity_and_flags(
    server: ScriptedServer,
) -> None:
    out = inquire(server, burst_report())
    assert row(out, "Other lenders inquiring (1h/24h/7d/30d/90d)") == "2/3/4/4/5"
    assert row(out, "Pending applications elsewhere (7d)") == "1 (5,000.00 CNY)"
    assert row(out, "Provisional loans elsewhere") == "2 (6,000.00 CNY, 10.00 USD)"
    assert row(out, "Phones seen with the borrower (90d)") == "2"
    assert row(out, "Most borrowers on one of those phones (90d)") == "4"
    for code in ("APPLICATION_BURST", "PENDING_ELSEWHERE", "SHARED_PHONE"):
        assert code in out
    lines = out.splitlines()
    # The provisional tradeline: no product, its amount, and until when it stays.
    [first] = [i for i, line in enumerate(lines) if "│ B " in line and "provisional" in line]
    assert [c.strip() for c in lines[first].strip("│ ").split("│")][:5] == [
        "B",
        "-",
        "provisional",
        "3,000.00 CNY",
        "3,000.00 CNY",
    ]
    assert "until 2026-12-12" in lines[first + 1]
    # And how to record what came of this application.
    assert "lender-client outcome inq-1 approved" in " ".join(out.split())


def test_an_older_report_prints_as_before(server: ScriptedServer) -> None:
    out = inquire(server, inquiry_body())
    assert row(out, "Other lenders inquiring (1d/7d/30d/90d)") == "1/2/3/4"
    for absent in ("Pending applications", "Provisional loans", "Phones seen", "1h/24h"):
        assert absent not in out


def test_no_outcome_hint_for_an_account_review(server: ScriptedServer) -> None:
    body = inquiry_body()
    body["purpose"] = "account_review"
    out = inquire(server, body, "--purpose", "account_review")
    assert "lender-client outcome" not in out
