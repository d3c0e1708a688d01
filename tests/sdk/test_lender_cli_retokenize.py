"""`lender-client retokenize` and the SDK's rotation calls against the live registry: a
lender holding only closed loans and inquiries covers them from its own records, reads
what remains, and the rotation then retires with nothing lost."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client import RegistryClient
from lender_client.cli import cli
from tests.sdk.fakes import PEPPER_A, resident_id

pytestmark = pytest.mark.live

NEXT_PEPPER = "c3" * 32
TODAY = datetime.now(UTC).date()
AS_OF = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
HEADER = (
    "loan_ref,id_kind,id_value,product,currency,principal,outstanding,opened_on,due_on,"
    "status,days_past_due,as_of,closed_on,amount_past_due"
)


def ended_line(ref: str, rid: str, status: str) -> str:
    """A closed (repaid) or written-off loan, as a lender's records keep it."""
    opened = (TODAY - timedelta(days=400)).isoformat()
    due = (TODAY - timedelta(days=35)).isoformat()
    closed = (TODAY - timedelta(days=30)).isoformat()
    if status == "closed":
        return (
            f"{ref},cn_resident_id,{rid},cash_loan,CNY,500000,0,{opened},{due},closed,0,"
            f"{AS_OF},{closed},0"
        )
    return (
        f"{ref},cn_resident_id,{rid},cash_loan,CNY,500000,300000,{opened},{due},written_off,"
        f"120,{AS_OF},{closed},300000"
    )


def sdk(live_server: Any, api_key: str, **options: Any) -> RegistryClient:
    return RegistryClient(live_server.url, api_key, pepper=PEPPER_A, token_cache="none", **options)


@pytest.fixture
def live_key(live_server: Any) -> Any:
    from tests.conftest import create_token_key

    return create_token_key(live_server.app)


def open_pepper_window(live_server: Any) -> None:
    from registry.db import make_session_factory, transaction
    from registry.models import RotationKind
    from registry.services import audit, tokens

    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session, transaction(session):
        tokens.start_rotation(
            session, state.signer, RotationKind.PEPPER, datetime.now(UTC), audit.CLI, "p2"
        )


def retire_window(live_server: Any) -> Any:
    from registry.db import make_session_factory, transaction
    from registry.services import audit, tokens

    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session, transaction(session):
        return tokens.retire_rotation(session, datetime.now(UTC), audit.CLI)


def stored_rows(live_server: Any) -> dict[str, set[tuple[str, bytes]]]:
    from sqlalchemy import select

    from registry.db import make_session_factory
    from registry.models import Inquiry, Loan

    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session:
        return {
            "loans": set(session.execute(select(Loan.loan_ref, Loan.borrower)).tuples()),
            "inquiries": set(session.execute(select(Inquiry.id, Inquiry.borrower)).tuples()),
        }


def test_retokenize_covers_closed_loans_and_inquiries(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path
) -> None:
    alpha, beta = new_lender("alpha"), new_lender("beta")
    records = tmp_path / "closed-book.csv"
    records.write_text(
        "\n".join(
            [
                HEADER,
                ended_line("A-1", resident_id(1), "closed"),
                ended_line("A-2", resident_id(2), "written_off"),
            ]
        )
        + "\n"
    )
    applicants = tmp_path / "applicants.csv"
    applicants.write_text(
        f"application,id_kind,id_value\nAPP-1,cn_resident_id,{resident_id(3)}\n"
        f"APP-2,cn_resident_id,{resident_id(3)[:-1]}Z\n"
    )
    env = {
        "REGISTRY_URL": live_server.url,
        "REGISTRY_API_KEY": alpha.api_key,
        "REGISTRY_PEPPER": PEPPER_A,
        "REGISTRY_PEPPER_NEXT": NEXT_PEPPER,
        "REGISTRY_TOKEN_CACHE": str(tmp_path / "tokens.sqlite3"),
    }

    def run(*args: str) -> Result:
        return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)

    assert run("upload", "--no-progress", str(records)).exit_code == 0
    with sdk(live_server, alpha.api_key) as client:
        asked = client.inquire(
            id_kind="cn_resident_id", id_value=resident_id(3), consent_ref="APP-1"
        )
        client.inquire(id_kind="cn_resident_id", id_value=resident_id(1), consent_ref="APP-0")
    with sdk(live_server, beta.api_key) as client:
        client.inquire(id_kind="cn_resident_id", id_value=resident_id(1), consent_ref="B-APP")
    before = stored_rows(live_server)

    open_pepper_window(live_server)
    # The book alone covers alpha's loans and its inquiry about a borrower of the book;
    # the applicant remains, listed by inquiry id.
    first = run("retokenize", "--no-progress", str(records))
    assert first.exit_code == 1, first.output
    assert "pending before:   4 (1 closed loans, 1 written_off loans, 2 inquiries)" in first.output
    assert "still pending:    1 (1 inquiries)" in first.output
    remaining = tmp_path / "closed-book.csv.pending.csv"
    with remaining.open(newline="") as written:
        listed = list(csv.DictReader(written))
    assert [(r["kind"], r["inquiry_id"]) for r in listed] == [("inquiry", asked.inquiry_id)]

    done = run("retokenize", "--no-progress", str(records), "--ids", str(applicants))
    assert done.exit_code == 0, done.output
    assert "IDs read:         4 (1 not valid, skipped)" in done.output
    assert "Nothing remains pending" in done.output
    assert not remaining.exists()
    with sdk(live_server, alpha.api_key, next_pepper=NEXT_PEPPER) as client:
        assert client.rotation_pending().totals.total == 0
    # beta covers its inquiry with the SDK alone.
    with sdk(live_server, beta.api_key, next_pepper=NEXT_PEPPER) as client:
        pending = client.rotation_pending()
        assert [item.kind for item in pending.data] == ["inquiry"]
        result = client.retokenize_ids([("cn_resident_id", resident_id(1))])
        assert (result.before.total, result.after.total, result.covered) == (1, 0, 1)

    retired = retire_window(live_server)
    assert retired.lost == 0
    # Everything is still there, each row under the borrower's token under the new pepper.
    with RegistryClient(
        live_server.url, alpha.api_key, pepper=NEXT_PEPPER, token_cache="none"
    ) as client:
        new = {
            n: bytes.fromhex(client.tokenize("cn_resident_id", resident_id(n))) for n in (1, 2, 3)
        }
    after = stored_rows(live_server)
    assert {ref for ref, _ in after["loans"]} == {ref for ref, _ in before["loans"]}
    assert dict(after["loans"]) == {"A-1": new[1], "A-2": new[2]}
    assert {i for i, _ in after["inquiries"]} == {i for i, _ in before["inquiries"]}
    assert {borrower for _, borrower in after["inquiries"]} == {new[1], new[3]}
