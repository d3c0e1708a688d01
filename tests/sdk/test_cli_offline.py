"""The lender-client command against no registry or a scripted one: usage errors, failures,
uploads of awkward files."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lender_client.cli import cli
from tests.sdk.scripted import (
    API_KEY,
    HEADER,
    TOKEN,
    Reply,
    ScriptedServer,
    csv_row,
    free_port,
    inquiry_body,
    problem,
    report,
    submission,
)


def test_cli_without_api_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["loan", "L-1"])
    assert result.exit_code == 2
    assert "REGISTRY_API_KEY" in result.stderr


def test_cli_connection_failure_exits_3_without_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli, ["--url", url, "--api-key", API_KEY, "--retries", "0", "loan", "L-1"]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: could not reach")
    assert "Traceback" not in result.output and API_KEY not in result.output


def test_cli_prints_field_errors(server: ScriptedServer) -> None:
    body = problem(
        422,
        "validation",
        "Validation failed",
        "1 field is invalid",
        errors=[{"field": "consent_ref", "message": "must be at most 128 characters"}],
    )
    server.script(Reply(422, body))
    result = CliRunner().invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "inquire", TOKEN, "--consent-ref", "x" * 200],
    )
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "error: HTTP 422: Validation failed - 1 field is invalid (request id req-1)"
    assert lines[1] == "  consent_ref: must be at most 128 characters"


def test_cli_inquire_checks_arguments_locally() -> None:
    runner = CliRunner()
    base = ["--api-key", API_KEY, "inquire"]
    result = runner.invoke(cli, [*base, "not-a-token", "--consent-ref", "C"])
    assert result.exit_code == 2 and "64 hexadecimal" in result.stderr
    result = runner.invoke(cli, [*base, TOKEN])
    assert result.exit_code == 2 and "--consent-ref" in result.stderr


def test_cli_upload_of_a_file_with_a_bad_header_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("loan_ref,borrower,due_date\n")
    result = CliRunner().invoke(
        cli, ["--api-key", API_KEY, "--url", "http://127.0.0.1:1", "upload", str(path)]
    )
    assert result.exit_code == 2
    assert "unknown column" in result.stderr and "'due_date'" in result.stderr


def test_cli_readable_inquiry_against_scripted_server(server: ScriptedServer) -> None:
    server.script(Reply(200, inquiry_body()))
    result = CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "inquire", TOKEN, "--consent-ref", "C"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "12,345.67 CNY" in out and "1.00 CNY" in out
    assert "3 (2 other)" in out
    assert "1/2/3/4" in out
    assert "MULTI_LENDER" in out and "SOMETHING_NEW" in out


def test_cli_upload_that_fails_part_way_exits_3_and_keeps_what_was_done(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = tmp_path / "book.csv"
    path.write_text("\n".join([HEADER, *(csv_row(f"L-{i}") for i in range(4))]) + "\n")
    rejected = [
        {"index": 1, "loan_ref": "L-1", "errors": [{"field": "loans[1].due_on", "message": "bad"}]}
    ]
    server.script(
        Reply(200, submission(1, rejected)),
        Reply(503, problem(503, "unavailable", "Down for maintenance", "")),
    )
    result = CliRunner().invoke(
        cli,
        [
            "--url",
            server.url,
            "--api-key",
            API_KEY,
            "--retries",
            "0",
            "upload",
            str(path),
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 3
    assert "stopped part-way" in result.stderr
    assert "error: HTTP 503: Down for maintenance (request id req-2)" in result.stderr
    assert "Accepted" in result.stdout
    rows = (tmp_path / "book.csv.rejected.csv").read_text().splitlines()
    assert rows == ["line,loan_ref,field,message", "3,L-1,due_on,bad"]


def upload_with(server: ScriptedServer, path: Path, *options: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "upload", str(path), *options],
        catch_exceptions=False,
    )


def rejects_of(path: Path) -> list[list[str]]:
    with Path(f"{path}.rejected.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_cli_upload_sends_the_rest_of_a_batch_holding_a_lone_surrogate(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = tmp_path / "book.jsonl"
    lines = [
        json.dumps(report(1).to_json()),
        '{"loan_ref": "\\ud800", "principal": 1}',
        json.dumps({**report(3).to_json(), "product": "cash\udc80loan"}),
        json.dumps(report(4).to_json()),
    ]
    path.write_text("\n".join(lines) + "\n")
    server.script(Reply(200, submission(2)))
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    (sent,) = server.seen
    assert [r["loan_ref"] for r in sent.json()["loans"]] == ["L-1", "L-4"]
    assert rejects_of(path) == [
        ["line", "loan_ref", "field", "message"],
        ["2", "", "loan_ref", "is not valid Unicode text: it holds the unpaired surrogate \\ud800"],
        [
            "3",
            "L-3",
            "product",
            "is not valid Unicode text: it holds the unpaired surrogate \\udc80",
        ],
    ]


def test_cli_upload_of_csv_that_is_not_utf8(server: ScriptedServer, tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    rows = [csv_row("A"), csv_row("Bé"), csv_row("C")]
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("latin-1"))
    server.script(Reply(200, submission(2)))
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    assert [r["loan_ref"] for r in server.seen[0].json()["loans"]] == ["A", "C"]
    (_, row) = rejects_of(path)
    assert row[:3] == ["3", "B\ufffd", ""]
    assert (
        row[3]
        == "line is not valid UTF-8 (byte 0xE9 at byte 2 of the line); save the file as UTF-8"
    )

    # A header that is not UTF-8 (here UTF-16) makes the file unusable: a usage error.
    path.write_bytes(f"{HEADER}\n{csv_row('A')}\n".encode("utf-16"))
    result = upload_with(server, path)
    assert result.exit_code == 2
    assert "cannot read the header row: line is not valid UTF-8" in result.stderr
    assert len(server.seen) == 1


def test_cli_upload_of_a_damaged_gzip_file(server: ScriptedServer, tmp_path: Path) -> None:
    lines = [json.dumps(report(i).to_json()) for i in range(3_000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "book.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    server.script(*[Reply(200, submission())] * 3)
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    sent = [r["loan_ref"] for s in server.seen for r in s.json()["loans"]]
    assert 0 < len(sent) < 3_000 and sent == [f"L-{i}" for i in range(len(sent))]
    (_, row) = rejects_of(path)
    assert row[0] == str(len(sent) + 1) and "damaged or cut short" in row[3]

    path.write_bytes(whole[:15])
    result = upload_with(server, path)
    assert result.exit_code == 2 and "damaged or cut short" in result.stderr


def test_cli_loan_ref_that_cannot_be_sent_is_a_usage_error() -> None:
    base = ["--api-key", API_KEY, "--url", "http://127.0.0.1:1", "loan"]
    for ref in ("", "L-\udcff"):
        result = CliRunner().invoke(cli, [*base, ref], catch_exceptions=False)
        assert result.exit_code == 2 and "REF" in result.stderr


def test_cli_verbose_logs_requests_but_never_the_key(server: ScriptedServer) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "no such loan")))
    result = CliRunner().invoke(cli, ["-v", "--url", server.url, "--api-key", API_KEY, "loan", "X"])
    assert result.exit_code == 3
    assert "GET /v1/loans/X -> 404" in result.stderr
    assert API_KEY not in result.output


def test_cli_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("lender-client, version ")
