"""The operator CLI, `registry`, against a real database through the environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from registry.cli import main
from registry.migrations import head_revision
from registry.models import Inquiry, Lender, Loan, LoanMonth, Submission
from tests.helpers import loan as loan_record

KEY = re.compile(r"rk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")

# Each command opens its own engine on the database: its commits must be real.
pytestmark = pytest.mark.committed


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    # The demo writes under ./var (its OPRF key, its token cache): here, not the checkout's.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        return result

    return invoke


def test_lender_lifecycle(run, client):
    added = run("lenders", "add", "acme", "Acme Credit")
    (key,) = KEY.findall(added.output)
    assert "shown once" in added.output
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/loans", headers=headers).status_code == 200

    listing = run("lenders", "list").output
    assert "acme" in listing and "active" in listing and key.split("_")[1] in listing
    assert key not in listing  # the secret is never shown again

    run("lenders", "suspend", "acme")
    assert client.get("/v1/loans", headers=headers).status_code == 403
    run("lenders", "reactivate", "acme")
    assert client.get("/v1/loans", headers=headers).status_code == 200

    (second,) = KEY.findall(run("lenders", "new-key", "acme", "--label", "rotation").output)
    assert "revoked" in run("lenders", "revoke-key", "acme", key.split("_")[1]).output
    assert client.get("/v1/loans", headers=headers).status_code == 401
    again = run("lenders", "revoke-key", "acme", key.split("_")[1]).output
    assert "already revoked" in again
    assert client.get("/v1/loans", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_errors_are_one_line_not_tracebacks(run):
    run("lenders", "add", "acme", "Acme")
    duplicate = run("lenders", "add", "acme", "Again", ok=False)
    assert "already exists" in duplicate.output and "Traceback" not in duplicate.output
    assert "no lender" in run("lenders", "suspend", "ghost", ok=False).output
    assert "lender code" in run("lenders", "add", "Bad Code!", "X", ok=False).output


def test_demo_is_idempotent_and_prints_working_keys(run, client, db_session):
    first = run("demo")
    keys = list(dict.fromkeys(KEY.findall(first.output)))  # the examples repeat the first
    assert len(keys) == 5 and "curl" in first.output and "lender-client" in first.output

    def totals():
        try:
            return tuple(
                db_session.scalar(select(func.count()).select_from(m))
                for m in (Lender, Loan, Inquiry)
            )
        finally:
            db_session.rollback()

    counts = totals()
    assert counts[0] == 5 and counts[1] > 300 and counts[2] > 30
    second = run("demo")
    assert totals() == counts
    new_keys = KEY.findall(second.output)
    assert (
        client.get("/v1/loans", headers={"Authorization": f"Bearer {new_keys[0]}"}).status_code
        == 200
    )
    # Earlier demo keys are revoked by the new run.
    assert (
        client.get("/v1/loans", headers={"Authorization": f"Bearer {keys[0]}"}).status_code == 401
    )


def test_demo_lenders_have_exactly_the_printed_key(run, db_session):
    from registry.models import ApiKey

    printed = set(KEY.findall(run("demo").output))
    active = db_session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
    db_session.rollback()
    assert {key.prefix for key in active} == {k.split("_")[1] for k in printed}


def test_policy_list_and_set(run, client, new_lender):
    listing = run("policy", "list").output
    assert "MULTI_LENDER" in listing and "RAPID_BORROWING" in listing
    assert (
        "MULTI_LENDER: threshold 3 -> 1, enabled"
        in run("policy", "set", "multi_lender", "1").output
    )
    lender = new_lender()
    client.post("/v1/loans", json={"loans": [loan_record()]}, headers=lender.headers)
    body = {"borrower": loan_record()["borrower"], "purpose": "new_credit", "consent_ref": "c"}
    flags = client.post("/v1/inquiries", json=body, headers=lender.headers).get_json()["flags"]
    assert [f["code"] for f in flags] == ["MULTI_LENDER"]
    run("policy", "set", "MULTI_LENDER", "1", "--disable")
    flags = client.post("/v1/inquiries", json=body, headers=lender.headers).get_json()["flags"]
    assert flags == []
    assert run("policy", "set", "MULTI_LENDER", "0", ok=False).exit_code == 2


def test_demo_contains_over_indebted_borrowers(run, client):
    output = run("demo").output
    key = KEY.findall(output)[0]
    [borrower] = re.findall(r'"borrower": "([0-9a-f]{64})"', output)
    report = client.post(
        "/v1/inquiries",
        headers={"Authorization": f"Bearer {key}"},
        json={"borrower": borrower, "purpose": "new_credit", "consent_ref": "demo"},
    ).get_json()
    assert "MULTI_LENDER" in [f["code"] for f in report["flags"]]


def test_demo_histories_are_realistic_and_every_report_accepted(run, db_session):
    """The demo goes through ingest like real traffic: nothing rejected, and the stories the
    README speaks of are there (months of reports, delinquencies cured, write-offs repaid,
    credit lines lightly and heavily used, scheduled payments, stale loans)."""
    run("demo")
    try:
        assert db_session.scalar(select(func.sum(Submission.rejected))) == 0
        loans = db_session.scalars(select(Loan)).all()
        months = db_session.scalars(select(LoanMonth)).all()
    finally:
        db_session.rollback()
    assert {loan.status for loan in loans} == {"open", "closed", "written_off"}
    assert any(loan.special_event == "repaid_after_write_off" for loan in loans)
    assert all(loan.closed_on for loan in loans if loan.status != "open")
    lines = [loan for loan in loans if loan.product == "credit_line"]
    assert lines and all(loan.credit_limit >= loan.outstanding for loan in lines)
    usage = [loan.outstanding / loan.credit_limit for loan in lines if loan.status == "open"]
    assert min(usage) < 0.3 and max(usage) >= 0.9
    assert sum(loan.scheduled_payment is not None for loan in loans) == len(loans)
    assert any(loan.amount_past_due > 0 for loan in loans)
    # Cured: a month past due, the loan current and open now.
    late = {(m.lender_id, m.loan_ref) for m in months if m.worst_days_past_due >= 30}
    cured = [
        loan
        for loan in loans
        if (loan.lender_id, loan.loan_ref) in late
        and loan.status == "open"
        and loan.days_past_due == 0
    ]
    assert len(cured) >= 5
    per_loan: dict[tuple[int, str], int] = {}
    for month in months:
        key = (month.lender_id, month.loan_ref)
        per_loan[key] = per_loan.get(key, 0) + 1
    assert max(per_loan.values()) >= 12  # a year of monthly reports
    oldest = min(loan.last_reported_at for loan in loans)
    newest = max(loan.last_reported_at for loan in loans)
    assert (newest - oldest).days > 35  # some loans' lenders stopped reporting them


def test_demo_refuses_production(run, monkeypatch):
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.setenv("REGISTRY_SECRET_KEY", "x" * 40)
    assert "production" in run("demo", ok=False).output


def test_db_upgrade_and_help_as_a_real_command(tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {"REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "PATH": str(bin_dir)}
    done = subprocess.run(
        [str(bin_dir / "registry"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"revision {head_revision()}" in done.stdout
    helped = subprocess.run(
        [str(bin_dir / "registry"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for word in ("REGISTRY_DATABASE_URL", "lenders", "demo", "serve", "db"):
        assert word in helped.stdout


ROOT = Path(__file__).resolve().parents[2]


def test_version_and_serve_help_describe_themselves(run):
    from registry_protocol import __version__

    assert run("--version").output.strip() == f"registry, version {__version__}"
    helped = " ".join(run("serve", "--help").output.split())  # unwrapped
    for option, words in {
        "--host TEXT": "Address to listen on",
        "--port INTEGER": "TCP port to listen on",
        "--debug / --no-debug": "Flask's debugger",
    }.items():
        assert f"{option} {words}" in helped, option
    assert "gunicorn" in helped


def test_readme_lists_every_operator_command():
    """The README's operator list names `keys cancel` and every `operators` command, and
    its testing section every test that may skip outside CI."""
    from registry.cli import main as cli

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operating the registry") :]
    section = section[: section.index("\n## ", 1)]
    assert "registry keys cancel" in section
    for group in ("keys", "operators"):
        commands = cli.commands[group]
        assert isinstance(commands, click.Group)
        for name in commands.commands:
            assert f"registry {group} {name}" in section, name
    assert "registry --version" in section
    testing = readme[readme.index("## Two commands") : readme.index("## Walk-through")]
    assert "tests/console/test_browser.py" in testing
    assert "tests/crypto/test_rfc9497.py" in testing and "../shared" in testing


def test_demo_prints_commands_with_its_own_token_cache(run, tmp_path):
    cache = tmp_path / "stale-cache.sqlite3"
    output = run("demo").output
    exports = re.findall(r"export REGISTRY_TOKEN_CACHE=(\S+)", output)
    [inquire] = [line for line in output.splitlines() if "lender-client inquire" in line]
    assert exports and f"REGISTRY_TOKEN_CACHE={exports[0]} " in inquire
    assert exports[0].endswith("demo-token-cache.sqlite3")
    # Each run starts it afresh: whatever key it pinned before is forgotten.
    path = Path(exports[0]) if Path(exports[0]).is_absolute() else tmp_path / exports[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"pinned an old key")
    cache.write_bytes(b"not the demo's")
    run("demo")
    assert not path.exists() and cache.exists()
