"""The registry is SIGKILLed in the middle of a large `lender-client upload` and started again
on the same port a few seconds later: the upload completes by itself (its retry budget), and
the stored book is exactly the file, with one history row per accepted state and none for
the batch the kill rolled back."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from registry.db import make_engine
from registry.models import Submission
from tests.faults.book import file_checksum, loan_row, make_lender, stored_book, write_book
from tests.faults.processes import RegistryServer, figure, upload_book

pytestmark = pytest.mark.faults

RECORDS = 30_000
BATCH = 1_000
KILL_AFTER_BATCHES = 6
DOWN_FOR = 3.0


def _acknowledged(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Submission)) or 0)
    finally:
        engine.dispose()


def test_upload_survives_a_registry_killed_and_restarted(
    sqlite_template: Path, tmp_path: Path
) -> None:
    database = tmp_path / "registry.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    api_key = make_lender(url, "killed")
    path = tmp_path / "book.csv"
    write_book(path, (loan_row(i) for i in range(RECORDS)))
    expected_rows, expected_sum = file_checksum(path)

    server = RegistryServer(url, tmp_path)
    server.start()
    output = tmp_path / "upload.out"
    try:
        with output.open("wb") as out:
            started = time.monotonic()
            upload = upload_book(server.url, api_key, path, BATCH, cwd=tmp_path, stdout=out)
            while _acknowledged(url) < KILL_AFTER_BATCHES:
                assert upload.poll() is None, output.read_text()
                assert time.monotonic() - started < 120, "the upload is too slow"
                time.sleep(0.05)
            # In the middle of the next batch: it is rolled back, never half-stored.
            time.sleep(0.2)
            killed_at = time.monotonic()
            server.kill()
            acknowledged_at_kill = _acknowledged(url)
            time.sleep(DOWN_FOR)
            restart = server.start()
            down = time.monotonic() - killed_at
            status = upload.wait(timeout=180)
            finished = time.monotonic()
    finally:
        server.stop()
    log = output.read_text()
    assert status == 0, log

    stored = stored_book(url, "killed")
    assert stored.loans == expected_rows == RECORDS
    assert stored.checksum == expected_sum
    # One history row per accepted state (each loan was reported once), no more, no less.
    assert stored.history_rows == RECORDS and stored.history_mismatches == 0
    # Each batch stored once: the one the kill cut was rolled back and sent again whole.
    assert stored.submissions == RECORDS // BATCH
    assert stored.accepted == RECORDS and stored.unchanged == 0
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA integrity_check")) == "ok"
    finally:
        engine.dispose()
    retried = re.search(r"Retried ([\d,]+) request\(s\) ([\d,]+) time\(s\)", log)
    assert retried is not None, log
    assert not (tmp_path / "book.csv.checkpoint.json").exists()  # complete: removed
    figure(
        "registry SIGKILLed mid-upload (SQLite, gunicorn)",
        records=RECORDS,
        batches_before_kill=acknowledged_at_kill,
        down_s=down,
        restart_s=restart,
        resumed_after_s=finished - killed_at,
        upload_total_s=finished - started,
        retries=int(retried.group(2).replace(",", "")),
        checksum_equal=stored.checksum == expected_sum,
    )
