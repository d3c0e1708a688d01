"""The README walk-through, step by step, against a live server: onboard a lender, upload
the example CSV, inquire about the demo applicant and see MULTI_LENDER."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from registry.cli import main as registry_cli
from registry.migrations import upgrade
from registry.services.demo import DEMO_PEPPER
from tests.conftest import create_token_key
from tests.console.browser import serve
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPLICANT = "11010519491231002X"
DEMO_CACHE = "var/demo-token-cache.sqlite3"


def test_readme_walkthrough(live_server, database_url, monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "lender-client upload docs/examples/acme-loans.csv" in readme
    assert APPLICANT in readme
    assert f"export REGISTRY_PEPPER={DEMO_PEPPER.hex()}" in readme
    assert f"export REGISTRY_TOKEN_CACHE={DEMO_CACHE}" in readme
    monkeypatch.chdir(tmp_path)  # the README's relative var/, here

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv(
        "REGISTRY_OPRF_KEY_DIR", live_server.app.extensions["registry"].settings.oprf_key_dir
    )
    runner = CliRunner()
    assert runner.invoke(registry_cli, ["demo"]).exit_code == 0
    added = runner.invoke(registry_cli, ["lenders", "add", "acme", "Acme Credit"])
    assert added.exit_code == 0
    [key] = re.findall(r"rk_\S+", added.output)

    env = {
        "REGISTRY_URL": live_server.url,
        "REGISTRY_API_KEY": key,
        "REGISTRY_PEPPER": DEMO_PEPPER.hex(),
        "REGISTRY_TOKEN_CACHE": DEMO_CACHE,
        "HOME": str(tmp_path / "home"),
        "PATH": str(BIN),
        "COLUMNS": "120",
    }
    book = tmp_path / "acme-loans.csv"
    shutil.copy(ROOT / "docs/examples/acme-loans.csv", book)

    def lender_client(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "lender-client"), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    upload = lender_client("upload", str(book), "--no-progress")
    assert upload.returncode == 1, upload.stdout + upload.stderr  # one row rejected
    assert re.search(r"Accepted\D+4", upload.stdout)
    assert re.search(r"Tokenised\D+5", upload.stdout), upload.stdout
    rejects = (tmp_path / "acme-loans.csv.rejected.csv").read_text().splitlines()
    assert rejects == [
        "line,loan_ref,field,message",
        "6,ACME-0005,due_on,must not be before opened_on",
    ]

    inquiry = lender_client(
        "inquire",
        "--id-kind",
        "cn_resident_id",
        "--id",
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
    # The curl step: the same token, made by the CLI.
    token = lender_client("tokenize", "cn_resident_id", APPLICANT).stdout.strip()
    assert token == report["borrower"]


def _printed_inquire(output: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the `lender-client inquire` line that `registry demo` printed, as printed."""
    [line] = [line for line in output.splitlines() if "lender-client inquire" in line]
    words = shlex.split(line)
    env = {"PATH": str(BIN), "HOME": str(home), "COLUMNS": "120"}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "lender-client" and "REGISTRY_TOKEN_CACHE" in env, line
    return subprocess.run(
        [str(BIN / words[0]), *words[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_commands_work_after_make_clean_and_with_a_new_key(tmp_path, monkeypatch):
    """`make clean && make run`, then the printed command, three times: a first demo; a fresh
    one after `make clean` (var/ gone); and one whose database and key are new while var/'s
    token cache stayed. Each time the registry has a new key and the printed command works
    with no manual step, while a lender's ordinary cache that pinned the old key still
    refuses the new one (production stays strict)."""
    monkeypatch.chdir(tmp_path)  # make's working directory: var/ is here
    database_url = "sqlite:///var/registry.db"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", "var/oprf-keys")
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    home = tmp_path / "home"
    strict_cache = tmp_path / "lenders-own-cache.sqlite3"
    public_keys = []
    for attempt in ("first run", "after make clean", "new key, old var/ cache"):
        if attempt == "after make clean":
            shutil.rmtree(tmp_path / "var")
        elif attempt == "new key, old var/ cache":
            for stale in (tmp_path / "var").glob("registry.db*"):
                stale.unlink()
            shutil.rmtree(tmp_path / "var" / "oprf-keys")
            assert (tmp_path / DEMO_CACHE).exists()
        upgrade(database_url)
        with serve(database_url) as base:
            demo = CliRunner().invoke(registry_cli, ["demo", "--url", base])
            assert demo.exit_code == 0, demo.output
            inquiry = _printed_inquire(demo.output, tmp_path, home)
            assert inquiry.returncode == 0, (attempt, inquiry.stdout + inquiry.stderr)
            assert "MULTI_LENDER" in inquiry.stdout, attempt
            key = re.findall(r"REGISTRY_API_KEY=(\S+)", demo.output)[0]
            published = requests.get(f"{base}/v1/tokens/key", headers=bearer(key), timeout=10)
            public_keys.append(published.json()["public_key"])
            # A lender's own cache, pinned on the first registry, is not relaxed.
            strict = subprocess.run(
                [str(BIN / "lender-client"), "tokenize", "cn_resident_id", APPLICANT],
                env={
                    "PATH": str(BIN),
                    "HOME": str(home),
                    "REGISTRY_URL": base,
                    "REGISTRY_API_KEY": key,
                    "REGISTRY_PEPPER": DEMO_PEPPER.hex(),
                    "REGISTRY_TOKEN_CACHE": str(strict_cache),
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            if attempt == "first run":
                assert strict.returncode == 0, strict.stderr
            else:
                assert strict.returncode != 0 and "trust-key" in strict.stderr, strict.stderr
    assert len(set(public_keys)) == 3, "each registry should have had a key of its own"


def test_readme_sdk_example_runs(live_server, new_lender, monkeypatch, capsys, tmp_path):
    """The README's SDK snippet, run as printed, against a live server."""
    create_token_key(live_server.app)
    monkeypatch.setenv("REGISTRY_PEPPER", DEMO_PEPPER.hex())
    monkeypatch.setenv("REGISTRY_TOKEN_CACHE", str(tmp_path / "tokens.sqlite3"))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The SDK") :]
    start = section.index("```python") + len("```python")
    code = section[start : section.index("```\n", start)]
    lender = new_lender()
    monkeypatch.setenv("REGISTRY_URL", live_server.url)
    monkeypatch.setenv("REGISTRY_API_KEY", lender.api_key)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines()[-1] == "1 0 0 0"
