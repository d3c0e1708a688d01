"""`lender-client upload` keeps a checkpoint: an upload that stops part-way goes on where it
stopped when run again, skipping (and saying so) the batches the registry acknowledged; a
changed file voids the checkpoint; a batch whose answer was lost goes again with its key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lender_client.checkpoint import UploadCheckpoint
from lender_client.cli import cli
from tests.sdk.scripted import (
    API_KEY,
    HEADER,
    Reply,
    ScriptedServer,
    csv_row,
    problem,
    submission,
)

pytestmark = pytest.mark.faults

DOWN = Reply(503, problem(503, "unavailable", "Service unavailable", "the database is down"))


def book(tmp_path: Path, rows: int = 10) -> Path:
    path = tmp_path / "book.csv"
    path.write_text("\n".join([HEADER, *(csv_row(f"L-{i}") for i in range(rows))]) + "\n")
    return path


def upload(server: ScriptedServer, path: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("--url", server.url, "--api-key", API_KEY, "--retry-for", "0"),
            *("upload", str(path), "--batch-size", "2", "--no-progress", *extra),
        ],
    )


def batches_sent(server: ScriptedServer) -> list[list[str]]:
    return [[r["loan_ref"] for r in seen.json()["loans"]] for seen in server.seen]


def test_an_upload_that_stopped_goes_on_where_it_stopped(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = book(tmp_path)
    server.script(Reply(200, submission(2)), Reply(200, submission(2)), DOWN)
    first = upload(server, path)
    assert first.exit_code == 3, first.output
    checkpoint_path = tmp_path / "book.csv.checkpoint.json"
    assert "2 batch(es) acknowledged so far are recorded in" in first.stderr
    saved = json.loads(checkpoint_path.read_text())
    assert saved["file"]["path"] == str(path.resolve())
    assert saved["file"]["size"] == path.stat().st_size
    assert [b["batch"] for b in saved["acknowledged"]] == [0, 1]
    keys = [s.headers["Idempotency-Key"] for s in server.seen]
    assert [b["idempotency_key"] for b in saved["acknowledged"]] == keys[:2]
    assert all(len(b["sha256"]) == 64 for b in saved["acknowledged"])

    server.seen.clear()
    server.script(*[Reply(200, submission(2))] * 3)
    again = upload(server, path)  # the same command, nothing else
    assert again.exit_code == 0, again.output
    assert batches_sent(server) == [["L-4", "L-5"], ["L-6", "L-7"], ["L-8", "L-9"]]
    # The batch whose answer was a 503 goes with the key it had: batch 2 of the same prefix.
    assert server.seen[0].headers["Idempotency-Key"] == keys[2]
    assert "Resuming from the checkpoint" in again.stderr
    assert "2 batches already acknowledged, skipped (4 records" in again.stdout
    assert not checkpoint_path.exists()  # complete: removed


def test_resume_with_a_changed_file_starts_over_and_says_why(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = book(tmp_path)
    server.script(Reply(200, submission(2)), DOWN)
    assert upload(server, path).exit_code == 3
    with path.open("a") as out:
        out.write(csv_row("L-10") + "\n")
    server.seen.clear()
    server.script(*[Reply(200, submission(2))] * 6)
    again = upload(server, path, "--resume")
    assert again.exit_code == 0, again.output
    assert "does not apply any more: the file has changed since" in again.stderr
    assert len(server.seen) == 6 and batches_sent(server)[0] == ["L-0", "L-1"]
    assert "already acknowledged" not in again.stdout


def test_an_edit_that_keeps_size_and_time_is_caught_by_the_batch_digest(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = book(tmp_path, rows=6)
    server.script(Reply(200, submission(2)), Reply(200, submission(2)), DOWN)
    assert upload(server, path).exit_code == 3
    stat = path.stat()
    text = path.read_text().replace("L-3,", "L-X,")  # same size
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    server.seen.clear()
    server.script(*[Reply(200, submission(2))] * 2)
    again = upload(server, path)
    assert again.exit_code == 0, again.output
    # Batch 0 is as acknowledged; batch 1 holds the edit: it and what follows go again.
    assert batches_sent(server) == [["L-2", "L-X"], ["L-4", "L-5"]]
    assert "1 batch already acknowledged, skipped" in again.stdout


def test_rejected_rows_of_skipped_batches_stay_in_the_rejects_file(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = book(tmp_path, rows=6)
    rejected = [
        {"index": 1, "loan_ref": "L-1", "errors": [{"field": "loans[1].x", "message": "m"}]}
    ]
    server.script(Reply(200, submission(1, rejected)), DOWN)
    assert upload(server, path).exit_code == 3
    rejects = tmp_path / "book.csv.rejected.csv"
    assert rejects.read_text().splitlines()[1:] == ["3,L-1,x,m"]
    later = [{"index": 0, "loan_ref": "L-4", "errors": [{"field": "loans[0].y", "message": "n"}]}]
    server.script(Reply(200, submission(2)), Reply(200, submission(1, later)))
    again = upload(server, path)
    assert again.exit_code == 1, again.output  # rows of the file were rejected
    assert rejects.read_text().splitlines() == [
        "line,loan_ref,field,message",
        "3,L-1,x,m",
        "6,L-4,y,n",
    ]
    assert "2 rejected row(s) written to" in again.stdout


def test_restart_and_no_checkpoint(server: ScriptedServer, tmp_path: Path) -> None:
    path = book(tmp_path, rows=4)
    server.script(Reply(200, submission(2)), DOWN)
    assert upload(server, path).exit_code == 3
    checkpoint_path = tmp_path / "book.csv.checkpoint.json"
    assert UploadCheckpoint.load(checkpoint_path).acknowledged_count == 1
    server.seen.clear()
    server.script(*[Reply(200, submission(2))] * 2)
    again = upload(server, path, "--restart")
    assert again.exit_code == 0 and len(server.seen) == 2
    assert "--restart: the checkpoint" in again.stderr
    assert not checkpoint_path.exists()

    elsewhere = tmp_path / "state" / "upload.json"
    server.script(Reply(200, submission(2)), DOWN)
    assert upload(server, path, "--checkpoint", str(elsewhere)).exit_code == 3
    assert elsewhere.exists() and not checkpoint_path.exists()

    server.script(Reply(200, submission(2)), DOWN)
    assert upload(server, path, "--no-checkpoint").exit_code == 3
    assert not checkpoint_path.exists()


def test_usage_errors(server: ScriptedServer, tmp_path: Path) -> None:
    path = book(tmp_path, rows=2)
    assert upload(server, Path("-"), "--resume").exit_code == 2
    assert upload(server, path, "--no-checkpoint", "--resume").exit_code == 2
    assert server.seen == []


def test_a_damaged_checkpoint_is_set_aside(server: ScriptedServer, tmp_path: Path) -> None:
    path = book(tmp_path, rows=2)
    (tmp_path / "book.csv.checkpoint.json").write_text("{not json")
    server.script(Reply(200, submission(2)))
    result = upload(server, path)
    assert result.exit_code == 0, result.output
    assert "cannot be used" in result.stderr and len(server.seen) == 1


def test_a_default_batch_size_follows_the_checkpoint(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = book(tmp_path, rows=6)
    server.script(Reply(200, submission(2)), DOWN)
    assert upload(server, path).exit_code == 3  # --batch-size 2
    server.seen.clear()
    server.script(*[Reply(200, submission(2))] * 2)
    again = CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "upload", str(path), "--no-progress"]
    )
    assert again.exit_code == 0, again.output
    assert batches_sent(server) == [["L-2", "L-3"], ["L-4", "L-5"]]
