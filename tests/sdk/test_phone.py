"""One borrower per person (issue 10): a phone never names the borrower (SDK, CLI, files),
and a phone given beside the borrower is tokenised like an ID (kind phone, in the same
evaluation requests) and sent as phone_token, the number itself never leaving the process.
Against the in-process fake of the registry (tests/sdk/fakes.py) and the scripted server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lender_client import (
    BORROWER_KINDS,
    InvalidIdError,
    LoanReport,
    NotABorrowerKindError,
    normalize_id,
)
from lender_client.cli import cli
from lender_client.files import SourceRecord, open_records
from registry_protocol.ids import token_input
from tests.sdk.fakes import FakeRegistry, fake_client, phone, resident_id
from tests.sdk.scripted import API_KEY, HEADER, TOKEN, ScriptedServer, csv_row

RID = resident_id(7)
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def loan(ref: str, **names: Any) -> LoanReport:
    values: dict[str, Any] = {
        "loan_ref": ref,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 300_000,
        "outstanding": 300_000,
        "opened_on": date(2026, 11, 1),
        "due_on": date(2027, 5, 1),
        "status": "open",
        "as_of": AS_OF,
    }
    values.update(names)
    return LoanReport(**values)


def forms_of_phone(number: str) -> list[bytes]:
    """Every form of a phone number that must never leave the process."""
    canonical = normalize_id("phone", number)
    return [
        number.encode(),
        number.replace(" ", "").encode(),
        canonical.encode(),
        canonical.removeprefix("+86").encode(),
        token_input("phone", canonical),
    ]


# -- phone is not a borrower's kind ------------------------------------------------------------


def test_the_borrower_kinds_are_person_and_entity_ids() -> None:
    assert BORROWER_KINDS == ("cn_resident_id", "passport", "cn_uscc")


def test_an_upload_record_naming_its_borrower_by_phone_is_rejected_on_id_kind() -> None:
    registry = FakeRegistry()
    number = phone(11)
    records: list[Any] = [
        loan("L-0", id_kind="cn_resident_id", id_value=RID),
        loan("L-1", id_kind="phone", id_value=number),
        {**loan("L-2", id_kind="cn_resident_id", id_value=RID).to_json(), "id_kind": "phone"},
    ]
    records[2]["id_value"] = number
    summary = fake_client(registry).report_loans(records)
    assert summary.accepted == 1 and summary.rejected_count == 2
    assert [(r.index, r.loan_ref) for r in summary.rejected] == [(1, "L-1"), (2, "L-2")]
    for rejection in summary.rejected:
        [error] = rejection.errors
        assert error.field == "id_kind"
        assert "secondary identifier" in error.message and "as phone" in error.message
        assert "cn_resident_id, passport, cn_uscc" in error.message
    assert [sent["loan_ref"] for sent in registry.loans] == ["L-0"]
    everything = b"".join(registry.bodies) + repr(summary).encode()
    assert not any(form in everything for form in forms_of_phone(number))


def test_an_inquiry_naming_its_borrower_by_phone_is_refused_before_sending() -> None:
    registry = FakeRegistry()
    client = fake_client(registry)
    number = phone(12)
    with pytest.raises(NotABorrowerKindError) as caught:
        client.inquire(id_kind="phone", id_value=number, consent_ref="APP-1")
    assert caught.value.field == "id_kind"
    assert isinstance(caught.value, InvalidIdError) and isinstance(caught.value, ValueError)
    text = str(caught.value) + repr(caught.value)
    assert text.startswith("id_kind: phone is a secondary identifier")
    assert number not in text and normalize_id("phone", number) not in text
    assert registry.requests == []


def test_tokenising_a_phone_is_still_possible() -> None:
    registry = FakeRegistry()
    assert len(fake_client(registry).tokenize("phone", phone(1))) == 64


# -- phone as a secondary identifier: uploads ----------------------------------------------------


def test_upload_sends_the_phone_token_in_the_same_evaluation_as_the_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lender_client")
    registry = FakeRegistry()
    client = fake_client(registry)
    reports = [
        loan("L-0", id_kind="cn_resident_id", id_value=resident_id(1), phone=phone(1)),
        loan("L-1", id_kind="cn_resident_id", id_value=resident_id(2), phone=phone(2)),
        loan("L-2", borrower=TOKEN, phone=phone(3)),  # named by token, phone beside it
        loan("L-3", id_kind="cn_resident_id", id_value=resident_id(4)),  # no phone
    ]
    summary = client.report_loans(reports)
    assert summary.accepted == 4 and summary.rejected_count == 0 and summary.tokenized == 3
    # Three IDs and three phones: one evaluation request for the whole batch.
    assert registry.count("/v1/tokens/evaluate") == 1 and registry.evaluations == [6]
    sent = {record["loan_ref"]: record for record in registry.loans}
    for n, ref in ((1, "L-0"), (2, "L-1"), (3, "L-2")):
        assert sent[ref]["phone_token"] == client.tokenize("phone", phone(n))
        assert "phone" not in sent[ref]
    assert sent["L-2"]["borrower"] == TOKEN
    assert sent["L-0"]["borrower"] == client.tokenize("cn_resident_id", resident_id(1))
    assert "phone_token" not in sent["L-3"]
    everything = b"".join(registry.bodies) + caplog.text.encode()
    everything += repr(summary).encode() + repr(reports).encode()
    for n in (1, 2, 3):
        assert not any(form in everything for form in forms_of_phone(phone(n)))


def test_a_bad_phone_is_a_rejection_naming_phone_without_the_number() -> None:
    registry = FakeRegistry()
    bad = "138 0013 800"  # one digit short
    records: list[Any] = [
        loan("L-0", id_kind="cn_resident_id", id_value=RID, phone=bad),
        loan("L-1", borrower=TOKEN, phone=phone(5)),
        {**loan("L-2", borrower=TOKEN).to_json(), "phone": 13800138000},  # not text
        {**loan("L-3", borrower=TOKEN).to_json(), "phone": phone(6), "phone_token": TOKEN},
        {**loan("L-4", borrower=TOKEN).to_json(), "phone": None},  # null: no phone
    ]
    summary = fake_client(registry).report_loans(records)
    assert summary.accepted == 2
    assert [(r.index, r.errors[0].field) for r in summary.rejected] == [
        (0, "phone"),
        (2, "phone"),
        (3, "phone"),
    ]
    assert "not a valid phone number" in summary.rejected[0].errors[0].message
    assert "not both" in summary.rejected[2].errors[0].message
    assert bad not in repr(summary) and bad.replace(" ", "") not in repr(summary)
    assert [r["loan_ref"] for r in registry.loans] == ["L-1", "L-4"]
    assert "phone" not in registry.loans[1] and "phone_token" not in registry.loans[1]
    assert not any(bad.replace(" ", "").encode() in body for body in registry.bodies)


def test_the_loan_report_keeps_the_number_out_of_its_repr() -> None:
    number = phone(9)
    report = loan("L-1", borrower=TOKEN, phone=number)
    assert number not in repr(report) and number not in str(report)
    assert report.to_json()["phone"] == number  # the local form report_loans tokenises
    with pytest.raises(ValueError, match="phone or phone_token"):
        loan("L-1", borrower=TOKEN, phone=number, phone_token=TOKEN)
    with pytest.raises(TypeError, match="phone"):
        loan("L-1", borrower=TOKEN, phone=13800138000)
    assert loan("L-2", borrower=TOKEN, phone_token=TOKEN).to_json()["phone_token"] == TOKEN


# -- phone as a secondary identifier: inquiries --------------------------------------------------


def test_inquire_sends_the_phone_token_tokenised_with_the_id() -> None:
    registry = FakeRegistry()
    client = fake_client(registry)
    number = phone(21)
    report = client.inquire(
        id_kind="cn_resident_id", id_value=RID, phone=number, consent_ref="APP-1"
    )
    assert registry.count("/v1/tokens/evaluate") == 1 and registry.evaluations == [2]
    assert registry.inquiries[0] == {
        "borrower": report.borrower,
        "purpose": "new_credit",
        "consent_ref": "APP-1",
        "phone_token": client.tokenize("phone", number),
    }
    assert report.borrower == client.tokenize("cn_resident_id", RID)
    assert not any(form in b"".join(registry.bodies) for form in forms_of_phone(number))


def test_inquire_by_token_with_a_phone() -> None:
    registry = FakeRegistry()
    client = fake_client(registry)
    client.inquire(TOKEN, consent_ref="APP-1", phone=phone(22))
    assert registry.inquiries[0]["borrower"] == TOKEN
    assert registry.inquiries[0]["phone_token"] == client.tokenize("phone", phone(22))
    client.inquire(TOKEN, consent_ref="APP-2", phone_token="cd" * 32)
    assert registry.inquiries[1]["phone_token"] == "cd" * 32


def test_inquire_with_a_bad_phone_sends_nothing() -> None:
    registry = FakeRegistry()
    client = fake_client(registry)
    with pytest.raises(InvalidIdError) as caught:
        client.inquire(id_kind="cn_resident_id", id_value=RID, phone="12345", consent_ref="A")
    assert caught.value.kind == "phone" and "12345" not in str(caught.value)
    with pytest.raises(ValueError, match="not both"):
        client.inquire(TOKEN, consent_ref="A", phone=phone(1), phone_token=TOKEN)
    assert registry.requests == []


# -- files and the command line -----------------------------------------------------------------


def test_a_csv_phone_column_is_read_and_an_empty_cell_not_sent(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(
        f"{HEADER},phone\n{csv_row('L-1')},138 0013 8000\n{csv_row('L-2')},\n", encoding="utf-8"
    )
    with open_records(str(book)) as reader:
        records = [item for item in reader if isinstance(item, SourceRecord)]
    assert records[0].data["phone"] == "138 0013 8000"
    assert "phone" not in records[1].data


def options(server: ScriptedServer) -> list[str]:
    return ["--url", server.url, "--api-key", API_KEY, "--token-cache", "none"]


def run(server: ScriptedServer, *args: str, input: str | None = None) -> Any:
    env = {"REGISTRY_PEPPER": "a1" * 32}
    return CliRunner(env=env).invoke(cli, [*options(server), *args], input=input)


def upload(server: ScriptedServer, book: Path) -> Any:
    return CliRunner().invoke(
        cli,
        [*options(server), "upload", str(book), "--no-progress"],
    )


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_an_upload_file_naming_borrowers_by_phone_is_rejected_row_by_row(
    server: ScriptedServer, tmp_path: Path, suffix: str
) -> None:
    number = "138 0013 8000"
    book = tmp_path / f"book.{suffix}"
    by_phone = {
        "loan_ref": "L-1",
        "id_kind": "phone",
        "id_value": number,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 1,
        "outstanding": 1,
        "opened_on": "2026-01-01",
        "due_on": "2026-12-01",
        "status": "open",
        "days_past_due": 0,
        "as_of": "2026-11-20T10:00:00Z",
    }
    if suffix == "csv":
        book.write_text(
            ",".join(by_phone) + "\n" + ",".join(str(v) for v in by_phone.values()) + "\n"
        )
    else:
        book.write_text(json.dumps(by_phone) + "\n")
    result = upload(server, book)
    assert result.exit_code == 1, result.output
    rejects = (tmp_path / f"book.{suffix}.rejected.csv").read_text().splitlines()
    assert rejects[0] == "line,loan_ref,field,message"
    _, ref, field, message = rejects[1].split(",", 3)
    assert (ref, field) == ("L-1", "id_kind")
    assert "secondary identifier" in message and "as phone" in message
    assert number not in result.output and number not in "\n".join(rejects)
    assert server.seen == []  # refused before anything was sent


def test_inquire_refuses_phone_as_the_applicants_kind(server: ScriptedServer) -> None:
    result = run(
        server, "inquire", "--id-kind", "phone", "--id", "13800138000", "--consent-ref", "C-1"
    )
    assert result.exit_code == 2, result.output
    error = " ".join(result.stderr.split())
    assert "phone is a secondary identifier" in error and "--phone" in error
    assert "cn_resident_id, passport, cn_uscc" in error and "13800138000" not in error
    assert server.seen == []


def test_inquire_with_a_bad_phone_names_the_option(server: ScriptedServer) -> None:
    result = run(
        server,
        "inquire",
        "--id-kind",
        "cn_resident_id",
        "--id",
        RID,
        "--phone",
        "98765",
        "--consent-ref",
        "C-1",
    )
    assert result.exit_code == 2, result.output
    assert "--phone" in result.stderr and "98765" not in result.stderr
    assert server.seen == []
    both = run(
        server,
        "inquire",
        "--id-kind",
        "cn_resident_id",
        "--id",
        "-",
        "--phone",
        "-",
        "--consent-ref",
        "C-1",
        input="x\ny\n",
    )
    assert both.exit_code == 2 and "standard input" in both.stderr


def test_the_tokenize_help_says_a_phone_is_not_a_borrower() -> None:
    result = CliRunner().invoke(cli, ["tokenize", "--help"])
    text = " ".join(result.output.split())
    assert "A phone's token is not a borrower token" in text and "phone_token" in text
    inquire_help = " ".join(CliRunner().invoke(cli, ["inquire", "--help"]).output.split())
    assert "--phone NUMBER" in inquire_help
