"""Configuration: environment variables, safe defaults, and refusal of unsafe production."""

from __future__ import annotations

import pytest

from registry import create_app
from registry.config import DEFAULT_DATABASE_URL, ConfigError, Settings


def test_defaults_are_a_local_sqlite_development_setup():
    settings = Settings.from_env({}).validated()
    assert settings.env == "development" and not settings.production
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert DEFAULT_DATABASE_URL.startswith("sqlite:///var/")


def test_values_come_from_the_environment():
    settings = Settings.from_env(
        {
            "REGISTRY_ENV": "production",
            "REGISTRY_DATABASE_URL": "postgresql://registry@db/registry",
            "REGISTRY_SECRET_KEY": "s" * 40,
            "REGISTRY_LOG_LEVEL": "warning",
        }
    ).validated()
    assert settings.production and settings.database_url.endswith("@db/registry")
    assert settings.log_level == "WARNING"


@pytest.mark.parametrize("secret", [None, "", "dev-insecure-secret-key-change-me", "short"])
def test_production_refuses_a_default_missing_or_weak_secret(secret):
    environ = {"REGISTRY_ENV": "production"}
    if secret is not None:
        environ["REGISTRY_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="REGISTRY_SECRET_KEY"):
        Settings.from_env(environ).validated()


def test_the_app_factory_refuses_to_start_unsafe(monkeypatch):
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app()


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="REGISTRY_ENV"):
        Settings.from_env({"REGISTRY_ENV": "staging"}).validated()
