"""What the lender-client command says: its version, and errors worded with its own options and
environment variables, not the SDK's keyword arguments."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lender_client
from lender_client import ConfigurationError, UntrustedKeyError
from lender_client.cli import cli
from lender_client.cli.failures import message_for
from registry_protocol._version import __version__ as protocol_version
from tests.sdk.fakes import FakeRegistry, fake_client, phone
from tests.sdk.scripted import API_KEY, ScriptedServer

RID = "11010519491231002X"
NO_PEPPER = {
    "REGISTRY_PEPPER": None,
    "REGISTRY_PEPPER_FILE": None,
    "REGISTRY_PEPPER_NEXT": None,
    "REGISTRY_PEPPER_NEXT_FILE": None,
}


def test_version_is_the_packages_version() -> None:
    assert lender_client.__version__ == protocol_version
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"lender-client, version {lender_client.__version__}"
    ran = subprocess.run(
        [sys.executable, "-m", "lender_client", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0 and lender_client.__version__ in ran.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["tokenize", "phone", "+8613800138000"],
        ["inquire", "--id-kind", "cn_resident_id", "--id", RID, "--consent-ref", "C-1"],
        [
            "inquire",
            "--id-kind",
            "passport",
            "--id",
            "CHN:E12345678",
            "--phone",
            "13800138000",
            "--consent-ref",
            "C",
        ],
    ],
)
def test_missing_pepper_speaks_of_the_options_and_environment(
    server: ScriptedServer, command: list[str]
) -> None:
    result = CliRunner(env=NO_PEPPER).invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "--token-cache", "none", *command]
    )
    assert result.exit_code == 2, result.output
    error = result.stderr
    assert "no pepper" in error
    assert "--pepper-file" in error and "REGISTRY_PEPPER_FILE" in error
    assert "REGISTRY_PEPPER " in error or "REGISTRY_PEPPER (" in error
    assert "pepper=" not in error
    assert server.seen == []  # refused before asking the registry anything


def test_missing_pepper_in_an_upload_by_id(server: ScriptedServer, tmp_path: Path) -> None:
    book = tmp_path / "book.jsonl"
    book.write_text(
        '{"loan_ref": "L-1", "id_kind": "cn_resident_id", "id_value": "11010519491231002X", '
        '"product": "cash_loan", "currency": "CNY", "principal": 1, "outstanding": 1, '
        '"opened_on": "2026-01-01", "due_on": null, "status": "open", "days_past_due": 0, '
        '"as_of": "2026-11-20T10:00:00Z"}\n'
    )
    result = CliRunner(env=NO_PEPPER).invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "--token-cache", "none", "upload", str(book)],
    )
    assert result.exit_code == 2, result.output
    assert "--pepper-file" in result.stderr and "pepper=" not in result.stderr


def test_the_sdk_keeps_its_own_wording_and_names_the_setting() -> None:
    client = fake_client(FakeRegistry(), pepper=None)
    with pytest.raises(ConfigurationError) as caught:
        client.tokenize("phone", phone(1))
    assert caught.value.setting == "pepper" and "pepper=..." in caught.value.message
    assert "--pepper-file" in message_for(caught.value)
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.setting == "pepper" and again.message == caught.value.message


def test_missing_next_pepper_in_the_commands_words() -> None:
    registry = FakeRegistry()
    registry.open_pepper_rotation()
    with pytest.raises(ConfigurationError) as caught:
        fake_client(registry).tokenize_pairs([("phone", phone(1))])
    assert caught.value.setting == "next_pepper" and "next_pepper=..." in caught.value.message
    text = message_for(caught.value)
    assert "--next-pepper-file" in text and "REGISTRY_PEPPER_NEXT_FILE" in text
    assert "next_pepper=" not in text


def test_untrusted_key_in_the_commands_words(tmp_path: Path) -> None:
    registry = FakeRegistry()
    cache = tmp_path / "cache.sqlite3"
    fake_client(registry, token_cache=cache).tokenize("phone", phone(1))
    nxt = registry.open_key_rotation("k2")
    with pytest.raises(UntrustedKeyError) as caught:
        fake_client(registry, token_cache=cache).tokenize_pairs([("phone", phone(1))])
    assert caught.value.role == "next" and "trust_new_keys=True" in caught.value.message
    text = message_for(caught.value)
    assert "new next token key 'k2'" in text
    assert f"lender-client trust-key k2 {nxt.pk.hex()}" in text
    assert "--trust-new-keys" in text and "trust_new_keys" not in text
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.role == "next" and again.key_id == "k2"
