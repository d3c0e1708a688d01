"""Configuration from the environment, validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEFAULT_DATABASE_URL = "sqlite:///" + str(Path("var") / "registry.db")
DEFAULT_OPRF_KEY_DIR = str(Path("var") / "oprf-keys")
# Each evaluated element is one online guess at an ID: a busy lender tokenises its whole
# book once and then a few thousand applicants a day.
DEFAULT_TOKEN_QUOTA_PER_DAY = 200_000


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the process must not start."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEFAULT_SECRET_KEY
    log_level: str = "INFO"
    # Upper bound on a request body: 5,000 records of ~400 bytes leave ample room.
    max_body_bytes: int = 16 * 1024 * 1024
    oprf_key_dir: str = DEFAULT_OPRF_KEY_DIR
    oprf_keys: str = field(default="", repr=False)  # key material: never in a repr or log
    token_quota_per_day: int = DEFAULT_TOKEN_QUOTA_PER_DAY
    # How old the console's whole-book totals may be before a background refresh; 0: live.
    dashboard_cache_seconds: int = 60
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        settings = cls(
            env=environ.get("REGISTRY_ENV", "development"),
            database_url=environ.get("REGISTRY_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=environ.get("REGISTRY_SECRET_KEY", DEFAULT_SECRET_KEY),
            log_level=environ.get("REGISTRY_LOG_LEVEL", "INFO").upper(),
            oprf_key_dir=environ.get("REGISTRY_OPRF_KEY_DIR", DEFAULT_OPRF_KEY_DIR),
            oprf_keys=environ.get("REGISTRY_OPRF_KEYS", ""),
            token_quota_per_day=_int(
                environ, "REGISTRY_TOKEN_QUOTA_PER_DAY", DEFAULT_TOKEN_QUOTA_PER_DAY
            ),
            dashboard_cache_seconds=_int(environ, "REGISTRY_DASHBOARD_CACHE_SECONDS", 60),
        )
        return settings  # validated by the caller, after any overrides

    def override(self, overrides: Mapping[str, Any]) -> Settings:
        known = {k: v for k, v in overrides.items() if k in self.__dataclass_fields__}
        rest = {k: v for k, v in overrides.items() if k not in self.__dataclass_fields__}
        return replace(self, **known, extra={**self.extra, **rest})

    def validated(self) -> Settings:
        if self.dashboard_cache_seconds < 0:
            raise ConfigError("REGISTRY_DASHBOARD_CACHE_SECONDS must be 0 or more")
        if self.token_quota_per_day < 1:
            raise ConfigError("REGISTRY_TOKEN_QUOTA_PER_DAY must be a positive integer")
        if self.env not in ("development", "production"):
            raise ConfigError(
                f"REGISTRY_ENV must be 'development' or 'production', not {self.env!r}"
            )
        if self.production:
            if not self.secret_key or self.secret_key == DEFAULT_SECRET_KEY:
                raise ConfigError(
                    "REGISTRY_SECRET_KEY must be set to a random secret in production"
                )
            if len(self.secret_key) < 32:
                raise ConfigError(
                    "REGISTRY_SECRET_KEY must be at least 32 characters in production"
                )
        return self


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {value!r}") from None
