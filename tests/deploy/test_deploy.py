"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_postgres_16_with_a_pg_isready_health_check():
    db = compose()["services"]["db"]
    assert db["image"].startswith("postgres:16")
    check = db["healthcheck"]["test"]
    assert any("pg_isready" in part for part in check)
    assert db["environment"]["POSTGRES_DB"] == "registry"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])


def test_registry_waits_for_a_healthy_database_then_migrates_and_serves():
    registry = compose()["services"]["registry"]
    assert registry["depends_on"]["db"]["condition"] == "service_healthy"
    command = " ".join(registry["command"])
    assert command.index("registry db upgrade") < command.index("gunicorn")
    assert "'registry:create_app()'" in command
    env = registry["environment"]
    assert env["REGISTRY_ENV"] == "production"
    assert (
        env["REGISTRY_DATABASE_URL"].startswith("postgresql://")
        and "@db:5432/" in env["REGISTRY_DATABASE_URL"]
    )
    # No default secret: compose refuses to start without one.
    assert env["REGISTRY_SECRET_KEY"].startswith("${REGISTRY_SECRET_KEY:?")
    assert registry["build"] == "."


def test_dockerfile_runs_gunicorn_as_a_non_root_user_after_migrating():
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    cmd = re.search(r"^CMD\s+(.*)$", text, re.MULTILINE).group(1)
    assert cmd.index("registry db upgrade") < cmd.index("gunicorn")
    assert "registry:create_app()" in cmd
    assert "REGISTRY_ENV=production" in text
    assert re.search(r"^HEALTHCHECK", text, re.MULTILINE)
    # Everything the image copies exists.
    for source in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, re.MULTILINE):
        for part in source.split():
            assert (ROOT / part).exists(), part


def test_gunicorn_config_and_app_import_as_the_image_does():
    import importlib

    config = importlib.import_module("registry.gunicorn_config")
    assert config.bind.endswith(":8000") and config.workers >= 1
    from registry import create_app

    assert callable(create_app)


def test_env_example_documents_every_variable_the_code_reads():
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    used = set()
    for path in (ROOT / "registry").rglob("*.py"):
        used |= set(
            re.findall(
                r"""environ(?:\.get)?\(\s*["'](REGISTRY_[A-Z_]+|WEB_CONCURRENCY|PROMETHEUS_MULTIPROC_DIR)""",
                path.read_text(),
            )
        )
        used |= set(re.findall(r"""environ\.get\(\s*["']([A-Z_]+)""", path.read_text()))
    assert used <= documented, used - documented


def test_the_image_copies_every_package_the_distribution_ships():
    text = (ROOT / "Dockerfile").read_text()
    copied = {
        part.rstrip("/")
        for source in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, re.MULTILINE)
        for part in source.split()
    }
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = re.search(r"^include = \[(.*)\]$", pyproject, re.MULTILINE).group(1)
    packages = {name.strip(' "*') for name in include.split(",")}
    assert packages <= copied, packages - copied


def test_the_oprf_key_lives_in_a_volume_and_exists_before_serving():
    text = (ROOT / "Dockerfile").read_text()
    assert "REGISTRY_OPRF_KEY_DIR=/var/lib/registry/oprf-keys" in text
    assert re.search(r'^VOLUME \["/var/lib/registry/oprf-keys"\]', text, re.MULTILINE)
    assert "-m 0700 /var/lib/registry/oprf-keys" in text
    cmd = re.search(r"^CMD\s+(.*)$", text, re.MULTILINE).group(1)
    assert cmd.index("registry keys init --if-missing") < cmd.index("gunicorn")
    registry = compose()["services"]["registry"]
    assert "oprfkeys:/var/lib/registry/oprf-keys" in registry["volumes"]
    assert "oprfkeys" in compose()["volumes"]
    command = " ".join(registry["command"])
    assert command.index("registry keys init --if-missing") < command.index("gunicorn")


def test_the_console_templates_and_assets_ship_in_the_package():
    """A non-editable install (the image) has only what package-data names."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    patterns = re.findall(r'"(console/[^"]+)"', pyproject)
    shipped = {
        path.relative_to(ROOT / "registry")
        for pattern in patterns
        for path in (ROOT / "registry").glob(pattern)
    }
    console = ROOT / "registry" / "console"
    needed = {
        path.relative_to(ROOT / "registry")
        for folder in ("templates", "static")
        for path in (console / folder).rglob("*")
        if path.is_file()
    }
    assert needed and needed <= shipped, needed - shipped
