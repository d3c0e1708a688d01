"""The `lender-client` command against the real registry over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client.cli import cli
from lender_client.models import RECORD_FIELDS
from registry.services.lookup import INQUIRING_LABEL
from tests.helpers import token

pytestmark = pytest.mark.live

TODAY = datetime.now(UTC).date()
AS_OF = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
COLUMNS = (*RECORD_FIELDS, "credit_limit")
HEADER = ",".join(COLUMNS)


def record(ref: str, borrower: int | str = 1, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "loan_ref": ref,
        "borrower": token(borrower),
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 1_000_000,
        "outstanding": 800_000,
        "opened_on": (TODAY - timedelta(days=90)).isoformat(),
        "due_on": (TODAY + timedelta(days=275)).isoformat(),
        "status": "open",
        "days_past_due": 0,
        "as_of": AS_OF,
        "credit_limit": None,
    }
    if overrides.get("product") == "credit_line":
        values["credit_limit"] = 2_000_000
    values.update(overrides)
    return values


def csv_line(ref: str, borrower: int | str = 1, **overrides: Any) -> str:
    values = record(ref, borrower, **overrides)
    return ",".join("" if values[f] is None else str(values[f]) for f in COLUMNS)


def table_value(output: str, label: str) -> str:
    """The value on the row of a rich table that starts with ``label``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == label:
            return cells[-1]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def lender_env(live_server: Any, new_lender: Any) -> dict[str, str]:
    return {"REGISTRY_URL": live_server.url, "REGISTRY_API_KEY": new_lender().api_key}


@pytest.fixture
def run(lender_env: dict[str, str]) -> Callable[..., Result]:
    runner = CliRunner(env=lender_env)

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def book_with_bad_rows(tmp_path: Path) -> Path:
    lines = [
        HEADER,  # 1
        csv_line("L-2", 2),  # 2
        csv_line("L-3", 3, due_on=(TODAY - timedelta(days=365)).isoformat()),  # 3: due < opened
        "L-4,not,enough,columns",  # 4
        csv_line("L-5", 5, product="credit_line", due_on=None),  # 5: empty due_on
        csv_line("L-6", 6, principal="12x"),  # 6: not an integer
        csv_line("L-7", 7),  # 7
    ]
    path = tmp_path / "book.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_upload_csv_with_bad_rows(run: Callable[..., Result], book_with_bad_rows: Path) -> None:
    result = run("upload", str(book_with_bad_rows), "--batch-size", "2")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "Upload summary" in out
    # Every data row is read (the unreadable one too); it is rejected here, never sent.
    assert table_value(out, "Records read") == "6"
    assert table_value(out, "Rejected locally (not sent)") == "1"
    assert table_value(out, "Sent to the registry") == "5"
    assert table_value(out, "Accepted") == "3"
    assert table_value(out, "Rejected by the registry") == "2"
    assert table_value(out, "Unreadable rows") == "1"
    assert table_value(out, "Batches") == "3"
    assert table_value(out, "Throughput").endswith("records/s")
    rejects_path = Path(f"{book_with_bad_rows}.rejected.csv")
    assert f"written to {rejects_path}" in out.replace("\n", "")

    rows = read_rejects(rejects_path)
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rows] == [
        ("3", "L-3", "due_on"),
        ("4", "L-4", ""),
        ("6", "L-6", "principal"),
    ]
    assert rows[1]["message"] == "expected 12 columns, found 4"
    assert all(r["message"] for r in rows)


def test_upload_rerun_reports_unchanged(
    run: Callable[..., Result], book_with_bad_rows: Path, tmp_path: Path
) -> None:
    first = run("upload", str(book_with_bad_rows))
    assert first.exit_code == 1
    second = run("upload", str(book_with_bad_rows), "--rejects", str(tmp_path / "again.csv"))
    assert second.exit_code == 1
    assert table_value(second.stdout, "Unchanged") == "3"
    assert table_value(second.stdout, "Accepted") == "0"
    assert len(read_rejects(tmp_path / "again.csv")) == 3

    # Once the bad rows are fixed, nothing is rejected and the old rejects file goes away.
    fixed = book_with_bad_rows.parent / "fixed.csv"
    good = [HEADER, csv_line("L-2", 2), csv_line("L-5", 5, product="credit_line", due_on=None)]
    fixed.write_text("\n".join(good) + "\n")
    stale = Path(f"{fixed}.rejected.csv")
    stale.write_text("line,loan_ref,field,message\n9,L-9,due_on,old\n")
    third = run("upload", str(fixed))
    assert third.exit_code == 0, third.output
    assert "Nothing rejected" in third.stdout
    assert table_value(third.stdout, "Unchanged") == "2"
    assert not stale.exists()


def test_upload_jsonl_with_a_bad_line(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    lines = [
        json.dumps(record("J-1", 1)),
        json.dumps(record("J-2", 2, currency="yuan")),
        '{"loan_ref": "J-3", oops}',
        "",
        json.dumps(record("J-5", 5, due_on=None, product="credit_line")),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = run("upload", str(path), "--no-progress")
    assert result.exit_code == 1, result.output
    rows = read_rejects(Path(f"{path}.rejected.csv"))
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rows] == [
        ("2", "J-2", "currency"),
        ("3", "", ""),
    ]
    assert rows[1]["message"].startswith("invalid JSON")

    shown = run("loan", "J-5", "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["due_on"] is None


def test_upload_jsonl_with_lone_surrogates(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    lines = [
        json.dumps(record("J-1", 1)),
        json.dumps(record("\ud800", 2)),  # written as the JSON escape \ud800
        json.dumps(record("J-3", 3)),
        json.dumps(record("J-4", 4, currency="CN\udfff")),
        json.dumps(record("J-5", 5)),
    ]
    assert "\\ud800" in lines[1]
    path.write_text("\n".join(lines) + "\n")
    result = run("upload", str(path), "--batch-size", "5000", "--no-progress")
    assert result.exit_code == 1, result.output
    assert table_value(result.stdout, "Accepted") == "3"
    assert table_value(result.stdout, "Unreadable rows") == "2"
    rows = read_rejects(Path(f"{path}.rejected.csv"))
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rows] == [
        ("2", "", "loan_ref"),
        ("4", "J-4", "currency"),
    ]
    assert (
        rows[0]["message"] == "is not valid Unicode text: it holds the unpaired surrogate \\ud800"
    )
    assert run("loan", "J-5").exit_code == 0


def test_upload_csv_that_is_not_utf8(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    lines = [HEADER, csv_line("C-1", 1), csv_line("C-é", 2), csv_line("C-3", 3)]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    result = run("upload", str(path), "--no-progress")
    assert result.exit_code == 1, result.output
    assert table_value(result.stdout, "Accepted") == "2"
    (row,) = read_rejects(Path(f"{path}.rejected.csv"))
    assert (row["line"], row["loan_ref"], row["field"]) == ("3", "C-\ufffd", "")
    assert row["message"].startswith("line is not valid UTF-8 (byte 0xE9 at byte 3")

    path.write_bytes(("\n".join(lines) + "\n").encode("utf-16"))
    result = run("upload", str(path))
    assert result.exit_code == 2
    assert "cannot read the header row: line is not valid UTF-8" in result.stderr


def test_upload_from_stdin_jsonl(
    run: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = "".join(json.dumps(record(f"S-{i}", i)) + "\n" for i in range(5)) + "[1]\n"
    result = run("upload", "-", input=data)
    assert result.exit_code == 1, result.output
    assert table_value(result.stdout, "Accepted") == "5"
    rows = read_rejects(tmp_path / "stdin.rejected.csv")
    assert [(r["line"], r["message"]) for r in rows] == [
        ("6", "expected a JSON object, found an array")
    ]


def test_loan_readable_and_json(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text(f"{HEADER}\n{csv_line('L-77', 77, outstanding=1_234_567)}\n")
    assert run("upload", str(path)).exit_code == 0

    readable = run("loan", "L-77")
    assert readable.exit_code == 0, readable.output
    assert "Loan L-77" in readable.stdout
    assert "12,345.67 CNY" in readable.stdout and "10,000.00 CNY" in readable.stdout
    assert token(77) in readable.stdout

    raw = json.loads(run("loan", "L-77", "--json").stdout)
    assert raw["loan_ref"] == "L-77" and raw["outstanding"] == 1_234_567

    listed = run("loans", "--status", "open", "--json")
    assert listed.exit_code == 0
    assert [json.loads(line)["loan_ref"] for line in listed.stdout.splitlines()] == ["L-77"]

    missing = run("loan", "NOPE")
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: HTTP 404")
    assert "request id" in missing.stderr


def test_inquire_readable_and_json(
    live_server: Any, new_lender: Any, run: Callable[..., Result], tmp_path: Path
) -> None:
    for n in range(3):
        path = tmp_path / f"lender{n}.csv"
        path.write_text(f"{HEADER}\n{csv_line(f'L-{n}', 'applicant', outstanding=1_234_567)}\n")
        env = {"REGISTRY_URL": live_server.url, "REGISTRY_API_KEY": new_lender().api_key}
        assert CliRunner(env=env).invoke(cli, ["upload", str(path)]).exit_code == 0

    borrower = token("applicant")
    raw = run("inquire", borrower, "--consent-ref", "APP-1", "--json")
    assert raw.exit_code == 0, raw.output
    data = json.loads(raw.stdout)
    assert data["summary"]["open_loans"] == 3
    assert "MULTI_LENDER" in [f["code"] for f in data["flags"]]

    readable = run(
        "inquire", borrower, "--consent-ref", "APP-2", "--amount", "500000", "--currency", "cny"
    )
    assert readable.exit_code == 0, readable.output
    out = readable.stdout
    assert "37,037.01 CNY" in out  # 3 x 12,345.67
    assert "3 (3 other)" in out
    # The console's words for the same figure: lenders, not inquiries (issue 13, item 3).
    assert table_value(out, INQUIRING_LABEL) == "0/0/0/0/0"
    assert "Requested 5,000.00 CNY" in out
    assert table_value(out, "Open loans") == "3"
    assert table_value(out, "MULTI_LENDER")  # a row of the flags table, with its detail


def test_bad_api_key_exits_3_with_a_hint(live_server: Any) -> None:
    env = {"REGISTRY_URL": live_server.url, "REGISTRY_API_KEY": "wrong-key"}
    result = CliRunner(env=env).invoke(cli, ["loan", "L-1"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: HTTP 401")
    assert "hint:" in result.stderr and "wrong-key" not in result.output


def test_help_explains_the_csv_columns_and_settings() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    assert "REGISTRY_URL" in top.stdout and "REGISTRY_API_KEY" in top.stdout
    upload = runner.invoke(cli, ["upload", "--help"])
    assert upload.exit_code == 0
    for name in RECORD_FIELDS:
        assert name in upload.stdout
    assert "minor units" in upload.stdout and "rejected.csv" in upload.stdout
    inquire = runner.invoke(cli, ["inquire", "--help"])
    assert "--consent-ref" in inquire.stdout and "MULTI_LENDER" in inquire.stdout


def _command() -> list[str]:
    script = Path(sys.executable).with_name("lender-client")
    if script.exists():
        return [str(script)]
    found = shutil.which("lender-client")
    if found:
        return [found]
    # The package is not installed as a distribution: run the same entry point as a module.
    return [sys.executable, "-m", "lender_client"]


def test_real_process_upload_and_rerun(lender_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    lines = [HEADER, *(csv_line(f"P-{i}", i) for i in range(20)), "P-x,broken"]
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, **lender_env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def upload() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_command(), "upload", str(path), "--batch-size", "7"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = upload()
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    rows = read_rejects(Path(f"{path}.rejected.csv"))
    assert [(r["line"], r["loan_ref"]) for r in rows] == [("22", "P-x")]

    assert table_value(first.stdout, "Accepted") == "20"
    second = upload()
    assert second.returncode == 1
    assert table_value(second.stdout, "Unchanged") == "20"

    env["REGISTRY_URL"] = "http://127.0.0.1:9"
    down = subprocess.run(
        [*_command(), "--retries", "0", "loan", "P-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 3
    assert down.stderr.startswith("error: could not reach http://127.0.0.1:9")
    assert "Traceback" not in down.stderr


def test_retract_then_report_anew(run: Callable[..., Result], tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(f"{HEADER}\n{csv_line('R-1', 1)}\n")
    assert run("upload", str(book), "--no-progress").exit_code == 0
    retracted = run("retract", "R-1", "--reason", "wrong_borrower", "--json")
    assert retracted.exit_code == 0, retracted.output
    assert json.loads(retracted.stdout)["reason"] == "wrong_borrower"
    assert run("loan", "R-1").exit_code == 3
    again = run("retract", "R-1", "--reason", "wrong_borrower")
    assert again.exit_code == 3 and "HTTP 404" in again.stderr
    book.write_text(f"{HEADER}\n{csv_line('R-1', 2)}\n")
    anew = run("upload", str(book), "--no-progress")
    assert anew.exit_code == 0 and table_value(anew.stdout, "Accepted") == "1"
