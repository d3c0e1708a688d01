"""The SDK is a distribution of its own: its wheel installs into an empty virtual environment
without any of the server's dependencies, and works there against a live registry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from registry_protocol.ids import normalize_id
from registry_protocol.pepper import inner_token_input
from tests.conftest import create_token_key

ROOT = Path(__file__).resolve().parents[2]
# What the registry needs and a lender must not be made to install.
SERVER_ONLY = {
    "flask",
    "werkzeug",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "psycopg-binary",
    "gunicorn",
    "argon2-cffi",
    "pydantic",
    "prometheus-client",
    "pyotp",
    "segno",
    "cryptography",
}
PEPPER = "5e" * 32
PHONE = "138 0013 8000"

ROUND_TRIP = """
import sys
from lender_client import RegistryClient
client = RegistryClient(sys.argv[1], sys.argv[2], pepper=sys.argv[3], token_cache=sys.argv[4])
print(client.tokenize("phone", sys.argv[5]))
import lender_client, registry_protocol, rfc9497
print(lender_client.__file__)
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run(*command: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty virtual environment with only the SDK's wheel (and its dependencies)."""
    where = tmp_path_factory.mktemp("sdk-wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-w",
        where / "dist",
        ROOT / "sdk",
        cwd=where,
    )
    [wheel] = (where / "dist").glob("lender_client-*.whl")
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=where)
    return where / "venv"


def test_the_sdk_wheel_installs_none_of_the_servers_dependencies(sdk_venv: Path):
    listed = run(sdk_venv / "bin" / "python", "-m", "pip", "list", "--format=json", cwd=sdk_venv)
    installed = {canonical(item["name"]) for item in json.loads(listed)}
    assert "lender-client" in installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    metadata = run(sdk_venv / "bin" / "python", "-m", "pip", "show", "lender-client", cwd=sdk_venv)
    requires = re.search(r"^Requires: (.*)$", metadata, re.MULTILINE)
    assert requires is not None
    assert {canonical(r) for r in requires.group(1).split(", ")} == {
        "requests",
        "click",
        "rich",
        "rbcl",
    }


def test_the_installed_cli_answers_help(sdk_venv: Path):
    out = run(sdk_venv / "bin" / "lender-client", "--help", cwd=sdk_venv)
    assert "Usage: lender-client" in out
    assert "tokenize" in out and "upload" in out


@pytest.mark.live
def test_a_tokenise_round_trip_from_the_installed_sdk(
    sdk_venv: Path, live_server, new_lender, tmp_path: Path
):
    key = create_token_key(live_server.app)
    lender = new_lender()
    out = run(
        sdk_venv / "bin" / "python",
        "-c",
        ROUND_TRIP,
        live_server.url,
        lender.api_key,
        PEPPER,
        tmp_path / "tokens.sqlite3",
        PHONE,
        cwd=tmp_path,
    )
    token, module_file = out.split()
    # The SDK ran from the wheel, not from this checkout.
    assert Path(module_file).is_relative_to(sdk_venv)
    # The registry's own evaluation of the same ID gives the same token.
    inner = inner_token_input(bytes.fromhex(PEPPER), "phone", normalize_id("phone", PHONE))
    signer = live_server.app.extensions["registry"].signer
    assert token == signer.evaluate(key.key_id, inner)[:32].hex()
