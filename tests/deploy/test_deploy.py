"""docker-compose.yml and the Dockerfile, checked by their structure (no Docker engine here):
the compose file is parsed as YAML, the Dockerfile into its instructions."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KEY_DIR = "/var/lib/registry/oprf-keys"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON-array form (`CMD ["sh", "-c", "..."]`) as a list."""
        value = json.loads(self.arguments)
        assert isinstance(value, list)
        return [str(item) for item in value]


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def only(keyword: str) -> Instruction:
    found = [i for i in dockerfile() if i.keyword == keyword]
    assert len(found) == 1, f"{keyword}: {len(found)} instructions"
    return found[0]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def image_env() -> dict[str, str]:
    """Every ENV the image sets (each instruction's KEY=value pairs)."""
    pairs = [
        word.split("=", 1)
        for i in dockerfile()
        if i.keyword == "ENV"
        for word in i.arguments.split()
    ]
    return {key: value for key, value in pairs}


def image_command() -> str:
    return only("CMD").exec_form()[-1]


CITUS_SERVICES = {
    "citus-coordinator", "citus-worker-1", "citus-worker-2", "citus-setup", "citus-migrate",
    "registry-citus",
}  # fmt: skip


def test_compose_has_the_database_the_migrations_and_the_registry():
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "registry", "retention"} | CITUS_SERVICES
    assert set(compose()["volumes"]) == {
        "pgdata", "oprfkeys", "citus-coordinator", "citus-worker-1", "citus-worker-2",
        "oprfkeys-citus",
    }  # fmt: skip
    # A plain `up` starts the single-database registry only.
    default = {name for name, service in services.items() if "profiles" not in service}
    assert default == {"db", "migrate", "registry"}


def test_compose_citus_profile_is_a_coordinator_and_two_workers():
    services = compose()["services"]
    for name in CITUS_SERVICES:
        assert services[name]["profiles"] == ["citus"], name
    nodes = ("citus-coordinator", "citus-worker-1", "citus-worker-2")
    for name in nodes:
        node = services[name]
        assert node["image"].startswith("citusdata/citus:")
        assert any("pg_isready" in part for part in node["healthcheck"]["test"])
        assert node["environment"]["POSTGRES_USER"] == "registry_owner"
        assert f"{name}:/var/lib/postgresql/data" in node["volumes"]
        assert "ports" not in node, "the cluster is reachable from the registry only"
    setup = services["citus-setup"]
    assert {n: setup["depends_on"][n]["condition"] for n in nodes} == dict.fromkeys(
        nodes, "service_healthy"
    )
    script = " ".join(setup["command"])
    assert "citus_set_coordinator_host('citus-coordinator', 5432)" in script
    for worker in nodes[1:]:
        assert f"citus_add_node('{worker}', 5432)" in script
    assert setup["restart"] == "no"


def test_compose_citus_migrates_then_distributes_then_serves_as_the_app_role():
    services = compose()["services"]
    migrate, registry = services["citus-migrate"], services["registry-citus"]
    assert migrate["depends_on"]["citus-setup"]["condition"] == "service_completed_successfully"
    steps = [step.strip() for step in migrate["command"][2].split("&&")]
    assert steps == [
        "registry db upgrade --app-role registry_app",
        "registry db distribute --apply",
    ]
    assert migrate["environment"]["REGISTRY_DATABASE_URL"].startswith(
        "postgresql://registry_owner:"
    )
    assert "@citus-coordinator:5432/" in migrate["environment"]["REGISTRY_DATABASE_URL"]
    assert registry["depends_on"]["citus-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    url = registry["environment"]["REGISTRY_DATABASE_URL"]
    assert url.startswith("postgresql://registry_app:") and "@citus-coordinator:5432/" in url
    assert registry["command"] == services["registry"]["command"]
    assert registry["image"] == services["registry"]["image"]
    assert registry["ports"] == ["127.0.0.1:8001:8000"]


def test_compose_retention_is_a_one_off_job_as_the_app_role():
    """`docker compose run --rm retention`, daily from the host's scheduler; `up` leaves it."""
    retention = compose()["services"]["retention"]
    assert retention["profiles"] == ["jobs"] and retention["restart"] == "no"
    assert retention["command"] == ["registry", "retention", "run"]
    assert retention["image"] == compose()["services"]["registry"]["image"]
    env = retention["environment"]
    assert env["REGISTRY_ENV"] == "production"
    assert env["REGISTRY_DATABASE_URL"].startswith("postgresql://registry_app:")
    assert retention["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_database_is_postgres_16_with_a_pg_isready_health_check_and_a_volume():
    db = compose()["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert any("pg_isready" in part for part in db["healthcheck"]["test"])
    assert db["environment"]["POSTGRES_DB"] == "registry"
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "ports" not in db, "the database is reachable from the registry only"


def test_compose_migrates_as_the_owner_then_serves_as_the_app_role():
    services = compose()["services"]
    migrate, registry = services["migrate"], services["registry"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["command"] == ["registry", "db", "upgrade", "--app-role", "registry_app"]
    assert migrate["environment"]["REGISTRY_DATABASE_URL"].startswith(
        "postgresql://registry_owner:"
    )
    assert services["db"]["environment"]["POSTGRES_USER"] == "registry_owner"
    assert registry["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert registry["environment"]["REGISTRY_DATABASE_URL"].startswith("postgresql://registry_app:")
    command = registry["command"]
    assert command[:2] == ["sh", "-c"]
    steps = [step.strip() for step in command[2].split("&&")]
    # The app role cannot change the schema: the registry itself never migrates here.
    assert steps[1:] == [
        "registry keys init --if-missing",
        "exec gunicorn -c python:registry.gunicorn_config 'registry:create_app()'",
    ]
    assert command[2].replace("$$", "$").endswith(image_command().split("&& ", 2)[2])


def test_compose_has_no_default_password():
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in ("POSTGRES_PASSWORD", "REGISTRY_APP_DB_PASSWORD", "REGISTRY_SECRET_KEY"):
        uses = re.findall(r"\$\{" + variable + r"(:[?-])", text)
        assert uses and set(uses) == {":?"}, variable


def test_compose_registry_runs_in_production_with_no_default_secret_and_a_key_volume():
    registry = compose()["services"]["registry"]
    env = registry["environment"]
    assert env["REGISTRY_ENV"] == "production"
    url = env["REGISTRY_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@db:5432/" in url
    # No default secret: compose refuses to start without one.
    assert env["REGISTRY_SECRET_KEY"].startswith("${REGISTRY_SECRET_KEY:?")
    assert f"oprfkeys:{KEY_DIR}" in registry["volumes"]
    assert registry["ports"] == ["127.0.0.1:8000:8000"]
    # The image's non-root user is not overridden.
    assert registry.get("user") in (None, "registry", "10001", "10001:10001")


def test_dockerfile_installs_the_lock_then_both_distributions_and_runs_as_a_non_root_user():
    instructions = dockerfile()
    assert instructions[0].keyword == "FROM" and instructions[0].arguments.startswith("python:3.")
    runs = [shlex.split(i.arguments) for i in instructions if i.keyword == "RUN"]
    installs = [words for words in runs if words[:2] == ["pip", "install"]]
    assert installs[0][2:] == ["--requirement", "requirements.lock"]
    assert installs[1][2:5] == ["--no-deps", "./sdk", "."]
    assert "check" in installs[1], "pip check proves the lock satisfies both distributions"
    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert instructions[-1].keyword == "CMD"
    assert image_env()["REGISTRY_ENV"] == "production"


def test_dockerfile_copies_what_both_distributions_build_from():
    copied: set[str] = set()
    for instruction in dockerfile():
        if instruction.keyword == "COPY":
            *sources, _destination = instruction.arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                copied.add(source)
    assert {"requirements.lock", "pyproject.toml", "README.md", "sdk"} <= copied
    # The SDK's folders are links to top-level packages: each must be copied beside it.
    for link in (ROOT / "sdk").iterdir():
        if link.is_symlink():
            assert link.resolve().parent == ROOT
            assert link.name in copied, link.name
    registry = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in registry["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.split(".")[0] in copied


def test_dockerfile_health_check_and_start_order():
    assert "/readyz" in only("HEALTHCHECK").arguments
    command = image_command()
    assert command.index("registry db upgrade") < command.index("gunicorn")
    assert command.index("registry keys init --if-missing") < command.index("gunicorn")
    assert "'registry:create_app()'" in command


def test_the_oprf_key_lives_in_an_owner_only_volume():
    assert image_env()["REGISTRY_OPRF_KEY_DIR"] == KEY_DIR
    assert only("VOLUME").exec_form() == [KEY_DIR]
    runs = " ".join(i.arguments for i in dockerfile() if i.keyword == "RUN")
    assert f"-o registry -g registry -m 0700 {KEY_DIR}" in runs


def test_the_lock_pins_every_dependency_of_both_distributions():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for project in (ROOT / "pyproject.toml", ROOT / "sdk" / "pyproject.toml"):
        for requirement in tomllib.loads(project.read_text())["project"]["dependencies"]:
            name = re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]
            name = re.sub(r"[-_.]+", "-", name).lower()
            if name != "lender-client":  # built from sdk/, not pinned
                assert name in pins, f"{name} ({project.name}) is not in requirements.lock"


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)


def test_gunicorn_config_and_app_import_as_the_image_does():
    import importlib

    config = importlib.import_module("registry.gunicorn_config")
    assert config.bind.endswith(":8000") and config.workers >= 1
    from registry import create_app

    assert callable(create_app)


def test_env_example_documents_every_variable_the_code_reads():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", text, re.MULTILINE))
    used: set[str] = set()
    for path in (ROOT / "registry").rglob("*.py"):
        source = path.read_text()
        used |= set(
            re.findall(
                r"""environ(?:\.get)?\(\s*["'](REGISTRY_[A-Z_]+|WEB_CONCURRENCY|PROMETHEUS_MULTIPROC_DIR)""",
                source,
            )
        )
        used |= set(re.findall(r"""environ\.get\(\s*["']([A-Z_]+)""", source))
        used |= set(re.findall(r"""_(?:int|secret)\(\s*environ,\s*["']([A-Z_]+)""", source))
    assert used <= documented, used - documented


def test_the_console_templates_and_assets_ship_in_the_package():
    """A non-editable install (the image) has only what package-data names."""
    registry = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = registry["tool"]["setuptools"]["package-data"]["registry"]
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
