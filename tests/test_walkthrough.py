"""The README walk-through, step by step, against a live server: onboard a lender, upload
the example CSV, inquire about the demo applicant and see MULTI_LENDER."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from registry.cli import main as registry_cli

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APPLICANT = "b0135f6d62d9daac0ce3a18d20c033c2d9a5ebcd06e0f32c8fa20652b279293e"


def test_readme_walkthrough(live_server, database_url, monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "lender-client upload docs/examples/acme-loans.csv" in readme
    assert APPLICANT in readme

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(registry_cli, ["demo"]).exit_code == 0
    added = runner.invoke(registry_cli, ["lenders", "add", "acme", "Acme Credit"])
    assert added.exit_code == 0
    key = re.search(r"rk_\S+", added.output).group(0)

    env = {
        "REGISTRY_URL": live_server.url,
        "REGISTRY_API_KEY": key,
        "PATH": str(BIN),
        "COLUMNS": "120",
    }
    book = tmp_path / "acme-loans.csv"
    shutil.copy(ROOT / "docs/examples/acme-loans.csv", book)

    def lender_client(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "lender-client"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    upload = lender_client("upload", str(book), "--no-progress")
    assert upload.returncode == 1, upload.stdout + upload.stderr  # one row rejected
    assert re.search(r"Accepted\D+4", upload.stdout)
    rejects = (tmp_path / "acme-loans.csv.rejected.csv").read_text().splitlines()
    assert rejects == [
        "line,loan_ref,field,message",
        "6,ACME-0005,due_on,must not be before opened_on",
    ]

    inquiry = lender_client(
        "inquire",
        APPLICANT,
        "--consent-ref",
        "APP-2026-0001",
        "--amount",
        "500000",
        "--currency",
        "CNY",
        "--json",
    )
    assert inquiry.returncode == 0, inquiry.stderr
    report = json.loads(inquiry.stdout)
    assert report["summary"]["lenders_with_open_loans"] == 3
    assert report["summary"]["other_lenders_with_open_loans"] == 2
    assert [flag["code"] for flag in report["flags"]] == ["MULTI_LENDER"]

    again = lender_client("upload", str(book), "--no-progress")
    assert re.search(r"Unchanged\D+4", again.stdout), again.stdout


def test_readme_sdk_example_runs(live_server, new_lender, monkeypatch, capsys):
    """The README's SDK snippet, run as printed, against a live server."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The SDK") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n", 10)]
    lender = new_lender()
    monkeypatch.setenv("REGISTRY_URL", live_server.url)
    monkeypatch.setenv("REGISTRY_API_KEY", lender.api_key)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines()[-1] == "1 0 0 0"
