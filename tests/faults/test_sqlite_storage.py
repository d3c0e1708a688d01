"""SQLite storage faults: a database file the registry cannot write (read-only), and a full
disk (a file-size limit on the registry's process, SIGXFSZ ignored, so that a write past it
fails as on a full disk). Each gives a problem that says what is wrong (503 read-only, 507
for the disk) and a clear message from lender-client; after recovery the database passes
PRAGMA integrity_check and holds everything acknowledged."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from lender_client import APIStatusError, RegistryClient
from tests.faults.book import (
    as_record,
    book_line,
    checksum,
    loan_row,
    make_lender,
    stored_book,
    write_book,
)
from tests.faults.processes import BIN, RegistryServer, figure, lender_client

pytestmark = pytest.mark.faults

BATCH = 200


def batch(n: int) -> list[dict[str, object]]:
    return [as_record(loan_row(n * BATCH + i, prefix="S")) for i in range(BATCH)]


def expected_checksum(batches: int) -> str:
    rows = (loan_row(i, prefix="S") for i in range(batches * BATCH))
    return checksum(book_line(row) for row in rows)


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:  # closing the last connection checkpoints the WAL
        result: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return result


# Capabilities that let root write a file whatever its mode says (Linux numbering).
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
PR_CAPBSET_DROP = 24


def _as_plain_owner() -> None:
    """In the registry's process, before it starts: if it is root, give up the capabilities
    that ignore file modes, so that a read-only file is read-only to it (as to a service
    account). The bounding set is what an exec'd program's capabilities are cut to."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) needs CAP_SETPCAP")


def _upload_cli(server: RegistryServer, api_key: str, folder: Path, n: int) -> tuple[int, str]:
    path = folder / f"batch-{n}.csv"
    write_book(path, (loan_row(n * BATCH + i, prefix="S") for i in range(BATCH)))
    process = lender_client(
        server.url, api_key, "upload", str(path), "--retry-for", "1", "--no-progress", cwd=folder
    )
    out, _ = process.communicate(timeout=60)
    return process.returncode, out.decode()


def test_a_read_only_database_file(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    api_key = make_lender(url, "readonly")
    server = RegistryServer(url, tmp_path, kind="serve")
    server.start()
    try:
        with RegistryClient(server.url, api_key) as sdk:
            sdk.submit_batch(batch(0))  # acknowledged before the fault
    finally:
        server.stop()
    assert integrity(database) == "ok"

    database.chmod(0o444)
    server = RegistryServer(url, tmp_path, kind="serve", preexec=_as_plain_owner)
    server.start()
    try:
        with RegistryClient(server.url, api_key, retry_for=3) as sdk:
            with pytest.raises(APIStatusError) as refused:
                sdk.submit_batch(batch(1))
            assert sdk.list_loans(limit=5).data  # reading still works
        status, output = _upload_cli(server, api_key, tmp_path, 1)
    finally:
        server.stop()
    problem = refused.value
    assert problem.status == 503 and problem.problem_type == "/problems/unavailable"
    assert "read-only" in (problem.detail or "")
    assert problem.attempts == 2  # retried after its Retry-After (2 s), within the budget
    assert status == 3, output
    assert "HTTP 503" in output and "database is read-only" in output, output
    assert "Traceback" not in server.log()
    # The operator's command says it as plainly.
    command = subprocess.run(
        [str(BIN / "registry"), "lenders", "add", "newcomer", "Newcomer"],
        env={**os.environ, "REGISTRY_DATABASE_URL": url},
        preexec_fn=_as_plain_owner,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 1, command.stderr
    assert "Error: database: the registry's database is read-only" in command.stderr
    assert "Traceback" not in command.stderr

    # Recovery: writable again, the refused batch sent again.
    database.chmod(0o644)
    server = RegistryServer(url, tmp_path, kind="serve")
    server.start()
    try:
        with RegistryClient(server.url, api_key) as sdk:
            assert sdk.submit_batch(batch(1)).accepted == BATCH
    finally:
        server.stop()
    assert integrity(database) == "ok"
    stored = stored_book(url, "readonly")
    assert stored.loans == 2 * BATCH and stored.checksum == expected_checksum(2)
    figure(
        "SQLite read-only database file",
        status=problem.status,
        attempts=problem.attempts,
        integrity="ok",
        records_checked=stored.loans,
    )


def _ignore_file_size_signal() -> None:
    # In the registry's process, before it starts (an ignored signal stays ignored across
    # exec): a write past the limit then fails with EFBIG, as on a full disk, instead of
    # killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_full_disk(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    api_key = make_lender(url, "fulldisk")
    assert integrity(database) == "ok"  # and the WAL folded in: the file holds everything
    # Room for a few batches beyond the database as it is (their pages go to the WAL first).
    limit = database.stat().st_size + 600_000
    server = RegistryServer(url, tmp_path, kind="serve", preexec=_ignore_file_size_signal)
    server.start()
    # Set once it runs: starting, it writes a library to a temporary file larger than this.
    assert server.pid is not None
    resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, limit))
    acknowledged = 0
    try:
        with RegistryClient(server.url, api_key, retry_for=0) as sdk:
            with pytest.raises(APIStatusError) as full:
                for n in range(40):
                    sdk.submit_batch(batch(n))
                    acknowledged += 1
            assert sdk.list_loans(limit=5).data  # reading still works
        status, output = _upload_cli(server, api_key, tmp_path, acknowledged)
    finally:
        server.stop()
    problem = full.value
    assert acknowledged >= 1, "the limit left no room for a first batch"
    assert problem.status == 507 and problem.problem_type == "/problems/insufficient-storage"
    assert "disk is full" in (problem.detail or "")
    assert problem.attempts == 1  # not retried: an operator must make room
    assert status == 3, output
    assert "HTTP 507" in output and "could not write to its database" in output, output

    assert integrity(database) == "ok"
    stored = stored_book(url, "fulldisk")
    assert stored.loans == acknowledged * BATCH
    assert stored.checksum == expected_checksum(acknowledged)

    # Room again: the batch refused goes through, nothing else is missing.
    server = RegistryServer(url, tmp_path, kind="serve")
    server.start()
    try:
        with RegistryClient(server.url, api_key) as sdk:
            assert sdk.submit_batch(batch(acknowledged)).accepted == BATCH
    finally:
        server.stop()
    assert integrity(database) == "ok"
    stored = stored_book(url, "fulldisk")
    assert stored.loans == (acknowledged + 1) * BATCH
    assert stored.checksum == expected_checksum(acknowledged + 1)
    figure(
        "SQLite full disk (RLIMIT_FSIZE)",
        status=problem.status,
        batches_before_full=acknowledged,
        integrity="ok",
        records_checked=stored.loans,
    )
