"""The import map of docs/architecture.md, enforced by reading every module's imports (AST).

Top level: `rfc9497` and `registry_protocol` import nothing of ours; `lender_client` (the SDK)
and `registry` (the server) each import those two and never each other. Inside the registry
the layers point one way: HTTP (api, console) -> services -> models; services, schemas and
models hold no Flask; the API and the console do not import each other. The SDK's
distribution needs no server dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("registry", "lender_client", "registry_protocol", "rfc9497")

# Which of our top-level packages each one may import (itself included).
ALLOWED = {
    "rfc9497": {"rfc9497"},
    "registry_protocol": {"registry_protocol"},
    "lender_client": {"lender_client", "registry_protocol", "rfc9497"},
    "registry": {"registry", "registry_protocol", "rfc9497"},
}
# Third-party packages the SDK's distribution may import: its whole dependency list.
SDK_THIRD_PARTY = {"requests", "click", "rich", "rbcl"}
# Inside the registry: (importing part, part it must not import).
FORBIDDEN_LAYERS = [
    ("registry.models", "registry.services"),
    ("registry.models", "registry.api"),
    ("registry.models", "registry.console"),
    ("registry.models", "registry.cli"),
    ("registry.models", "flask"),
    ("registry.services", "registry.api"),
    ("registry.services", "registry.console"),
    ("registry.services", "registry.cli"),
    ("registry.services", "flask"),
    ("registry.schemas", "flask"),
    ("registry.schemas", "registry.api"),
    ("registry.schemas", "registry.console"),
    ("registry.api", "registry.console"),
    ("registry.api", "registry.cli"),
    ("registry.console", "registry.api"),
    ("registry.console", "registry.cli"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str | None = None) -> Iterator[str]:
    """Every module `path` (named `module`) imports, absolute: relative imports resolved, and
    `from package import name` also yields `package.name` (it may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", OURS)
def test_top_level_packages_import_only_what_the_map_allows(package):
    wrong = [
        f"{module_name(path)} imports {name}"
        for path in sources(package)
        for name in imports(path)
        if name.split(".")[0] in OURS and name.split(".")[0] not in ALLOWED[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_registry_layers_point_one_way():
    wrong = [
        f"{module_name(path)} imports {name}"
        for path in sources("registry")
        for name in imports(path)
        for importer, imported in FORBIDDEN_LAYERS
        if within(module_name(path), importer) and within(name, imported)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_sdk_imports_no_server_dependency():
    stdlib = set(sys.stdlib_module_names)
    wrong = [
        f"{module_name(path)} imports {name}"
        for package in ("lender_client", "registry_protocol", "rfc9497")
        for path in sources(package)
        for name in imports(path)
        if (top := name.split(".")[0]) not in stdlib
        and top not in OURS
        and top not in SDK_THIRD_PARTY
    ]
    assert not wrong, "\n".join(wrong)


def test_the_protocol_package_uses_the_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    outside = {
        name
        for path in sources("registry_protocol")
        for name in imports(path)
        if name.split(".")[0] not in stdlib | {"registry_protocol"}
    }
    assert not outside


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The map would catch a registry module importing the SDK."""
    path = tmp_path / "probe.py"
    path.write_text("from lender_client import RegistryClient\nfrom . import audit\n")
    found = list(imports(path, "registry.services.probe"))
    assert found == [
        "lender_client",
        "lender_client.RegistryClient",
        "registry.services",
        "registry.services.audit",
    ]
