"""The upload benchmark: a CSV of new loans sent by `lender-client upload` as a subprocess.

If the command line tool does not work (yet), the same file is sent with the SDK's
`RegistryClient.report_loans` instead, and the result says so.
"""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bench.tokens import borrower_token, unknown_token

HEADER = (
    "loan_ref", "borrower", "product", "currency", "principal", "outstanding",
    "opened_on", "due_on", "status", "days_past_due", "as_of",
    "credit_limit", "amount_past_due", "closed_on",
)  # fmt: skip
CLI = Path(sys.executable).parent / "lender-client"
_PRODUCTS = ("cash_loan", "installment", "credit_line", "bnpl", "auto", "mortgage", "other")
_PRODUCT_WEIGHTS = (30, 25, 15, 20, 5, 3, 2)
_COUNT_ROWS = ("Records read", "Accepted", "Unchanged", "Stale", "Rejected", "Unreadable")


def write_csv(
    path: Path,
    count: int,
    ref_prefix: str,
    existing_borrowers: int,
    rng: random.Random,
    existing_share: float = 0.3,
) -> None:
    """`count` valid reports of loans new to the registry: a share of them to borrowers who
    already have loans elsewhere, the rest to new borrowers."""
    as_of = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    today = date.today()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(count):
            if rng.random() < existing_share:
                token = borrower_token(rng.randint(1, existing_borrowers))
            else:
                token = unknown_token(ref_prefix, n)
            product = rng.choices(_PRODUCTS, _PRODUCT_WEIGHTS)[0]
            principal = int(10 ** rng.uniform(5, 8))
            opened = today - timedelta(days=rng.randint(0, 1800))
            due = "" if product == "credit_line" else (opened + timedelta(rng.randint(30, 1800)))
            r = rng.random()
            if r < 0.7:
                status, outstanding = "open", max(1, int(principal * rng.uniform(0.05, 1)))
                dpd = 0 if rng.random() < 0.85 else rng.randint(1, 180)
            elif r < 0.95:
                status, outstanding, dpd = "closed", 0, 0
            else:
                status, outstanding = "written_off", int(principal * rng.random())
                dpd = rng.randint(90, 720)
            if status == "written_off":
                outstanding = max(1, outstanding)
            past_due = max(1, outstanding * min(dpd, 180) // 180) if dpd else 0
            closed_on = "" if status == "open" else min(today, opened + timedelta(30)).isoformat()
            writer.writerow((
                f"{ref_prefix}-{n:07d}", token.hex(), product, "CNY", principal, outstanding,
                opened.isoformat(), str(due), status, dpd, as_of,
                principal, past_due, closed_on,
            ))  # fmt: skip


@dataclass
class UploadRun:
    records: int
    seconds: float
    method: str  # "lender-client upload" or the fallback's name
    exit_code: int | None
    counts: dict[str, int] = field(default_factory=dict)  # from the printed summary
    output: str = ""  # the tool's output, for the record

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "loans_per_s": round(self.per_second, 1),
            "method": self.method,
            "exit_code": self.exit_code,
            "counts": self.counts,
        }


def parse_summary(text: str) -> dict[str, int]:
    """The counts of the `Upload summary` table the tool prints."""
    counts = {}
    for line in text.splitlines():
        for name in _COUNT_ROWS:
            match = re.search(rf"{name}\b[^0-9]*?([0-9][0-9,]*)\s*\W*$", line)
            if match and name not in counts:
                counts[name] = int(match.group(1).replace(",", ""))
    return counts


def run_cli(
    path: Path, records: int, base_url: str, api_key: str, batch_size: int, timeout: float
) -> UploadRun:
    env = {**os.environ, "REGISTRY_URL": base_url, "REGISTRY_API_KEY": api_key}
    env.pop("REGISTRY_VERBOSE", None)
    command = [str(CLI), "upload", str(path), "--no-progress", "--batch-size", str(batch_size)]
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    output = completed.stdout + completed.stderr
    return UploadRun(
        records=records,
        seconds=seconds,
        method="lender-client upload",
        exit_code=completed.returncode,
        counts=parse_summary(completed.stdout),
        output=output[-4000:],
    )


def run_sdk(path: Path, records: int, base_url: str, api_key: str, batch_size: int) -> UploadRun:
    """The fallback: the SDK, reading the file with the SDK's own CSV reader."""
    from lender_client import RegistryClient
    from lender_client.files import SourceRecord, open_records

    started = time.perf_counter()
    with RegistryClient(base_url, api_key) as client, open_records(str(path)) as reader:
        rows = (item.data for item in reader if isinstance(item, SourceRecord))
        summary = client.report_loans(rows, batch_size=batch_size, keep_rejections=False)
    seconds = time.perf_counter() - started
    counts = {
        "Records read": summary.records,
        "Accepted": summary.accepted,
        "Unchanged": summary.unchanged,
        "Stale": summary.stale,
        "Rejected": summary.rejected_count,
    }
    return UploadRun(records, seconds, "RegistryClient.report_loans (SDK fallback)", None, counts)
