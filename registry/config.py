"""Configuration from the environment, validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - development only: production refuses it
DEFAULT_DATABASE_URL = "sqlite:///" + str(Path("var") / "registry.db")
DEFAULT_OPRF_KEY_DIR = str(Path("var") / "oprf-keys")
# Each evaluated element is one online guess at an ID: a busy lender tokenises its whole
# book once and then a few thousand applicants a day.
DEFAULT_TOKEN_QUOTA_PER_DAY = 200_000
# Each inquiry reads a person's report: generous for a busy lender's applications, far below
# what monitoring a population would take. Per lender: registry lenders quota.
DEFAULT_INQUIRIES_PER_DAY = 50_000
DEFAULT_INQUIRY_BURST_PER_MINUTE = 600
DEFAULT_UPLOAD_RECORDS_PER_DAY = 5_000_000


class ConfigError(RuntimeError):
    """The configuration is unsafe or malformed; the process must not start."""


# Settings that may hold a secret: each may also come from a file named by NAME_FILE (a
# mounted secret), never both.
SECRET_VARIABLES = (
    "REGISTRY_SECRET_KEY",
    "REGISTRY_DATABASE_URL",
    "REGISTRY_OPRF_KEYS",
    "REGISTRY_METRICS_TOKEN",
)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    log_level: str = "INFO"
    # Upper bound on a request body: 5,000 records of ~400 bytes leave ample room.
    max_body_bytes: int = 16 * 1024 * 1024
    oprf_key_dir: str = DEFAULT_OPRF_KEY_DIR
    oprf_keys: str = field(default="", repr=False)  # key material: never in a repr or log
    token_quota_per_day: int = DEFAULT_TOKEN_QUOTA_PER_DAY
    inquiries_per_day: int = DEFAULT_INQUIRIES_PER_DAY
    inquiry_burst_per_minute: int = DEFAULT_INQUIRY_BURST_PER_MINUTE
    upload_records_per_day: int = DEFAULT_UPLOAD_RECORDS_PER_DAY
    # How old the console's whole-book totals may be before a background refresh; 0: live.
    dashboard_cache_seconds: int = 60
    # How long a worker may answer from its copy of an API key's lender and of the policy
    # (a change made through this process is seen at once); 0: read them on every request.
    cache_seconds: int = 2
    # `/metrics` asks for this bearer token when set; unset, it is open in development and
    # closed (404) in production.
    metrics_token: str = field(default="", repr=False)
    # Reverse proxies in front of the registry whose X-Forwarded-For/-Proto to believe (0:
    # none, the default: a client could otherwise choose the address the audit log records).
    trusted_proxies: int = 0
    # PostgreSQL: seconds to open a connection, to run one statement (0: no limit), and to
    # wait for a free pooled connection. Together they keep a request under gunicorn's 60 s
    # timeout when the database is down or stuck: the caller gets a 503 problem, not a hang.
    db_connect_timeout: int = 5
    db_statement_timeout: int = 30
    db_pool_timeout: int = 10
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    def __repr__(self) -> str:
        # Every field but the secrets; the database URL without its password.
        url = make_url(self.database_url).render_as_string(hide_password=True)
        return (
            f"Settings(env={self.env!r}, database_url={url!r}, log_level={self.log_level!r}, "
            f"oprf_key_dir={self.oprf_key_dir!r}, token_quota_per_day="
            f"{self.token_quota_per_day!r}, trusted_proxies={self.trusted_proxies!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        settings = cls(
            env=environ.get("REGISTRY_ENV", "development"),
            database_url=_secret(environ, "REGISTRY_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=_secret(environ, "REGISTRY_SECRET_KEY", DEFAULT_SECRET_KEY),
            log_level=environ.get("REGISTRY_LOG_LEVEL", "INFO").upper(),
            oprf_key_dir=environ.get("REGISTRY_OPRF_KEY_DIR", DEFAULT_OPRF_KEY_DIR),
            oprf_keys=_secret(environ, "REGISTRY_OPRF_KEYS", ""),
            metrics_token=_secret(environ, "REGISTRY_METRICS_TOKEN", ""),
            trusted_proxies=_int(environ, "REGISTRY_TRUSTED_PROXIES", 0),
            token_quota_per_day=_int(
                environ, "REGISTRY_TOKEN_QUOTA_PER_DAY", DEFAULT_TOKEN_QUOTA_PER_DAY
            ),
            dashboard_cache_seconds=_int(environ, "REGISTRY_DASHBOARD_CACHE_SECONDS", 60),
            cache_seconds=_int(environ, "REGISTRY_CACHE_SECONDS", 2),
            inquiries_per_day=_int(
                environ, "REGISTRY_INQUIRIES_PER_DAY", DEFAULT_INQUIRIES_PER_DAY
            ),
            inquiry_burst_per_minute=_int(
                environ, "REGISTRY_INQUIRY_BURST_PER_MINUTE", DEFAULT_INQUIRY_BURST_PER_MINUTE
            ),
            upload_records_per_day=_int(
                environ, "REGISTRY_UPLOAD_RECORDS_PER_DAY", DEFAULT_UPLOAD_RECORDS_PER_DAY
            ),
            db_connect_timeout=_int(environ, "REGISTRY_DB_CONNECT_TIMEOUT", 5),
            db_statement_timeout=_int(environ, "REGISTRY_DB_STATEMENT_TIMEOUT", 30),
            db_pool_timeout=_int(environ, "REGISTRY_DB_POOL_TIMEOUT", 10),
        )
        return settings  # validated by the caller, after any overrides

    def override(self, overrides: Mapping[str, Any]) -> Settings:
        known = {k: v for k, v in overrides.items() if k in self.__dataclass_fields__}
        rest = {k: v for k, v in overrides.items() if k not in self.__dataclass_fields__}
        return replace(self, **known, extra={**self.extra, **rest})

    def validated(self) -> Settings:
        if self.dashboard_cache_seconds < 0:
            raise ConfigError("REGISTRY_DASHBOARD_CACHE_SECONDS must be 0 or more")
        if not 0 <= self.cache_seconds <= 60:
            raise ConfigError("REGISTRY_CACHE_SECONDS must be 0 to 60")
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError("REGISTRY_TRUSTED_PROXIES must be 0 to 5")
        for name, value in (
            ("REGISTRY_INQUIRIES_PER_DAY", self.inquiries_per_day),
            ("REGISTRY_INQUIRY_BURST_PER_MINUTE", self.inquiry_burst_per_minute),
            ("REGISTRY_UPLOAD_RECORDS_PER_DAY", self.upload_records_per_day),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be a positive integer")
        for name, value in (
            ("REGISTRY_DB_CONNECT_TIMEOUT", self.db_connect_timeout),
            ("REGISTRY_DB_POOL_TIMEOUT", self.db_pool_timeout),
        ):
            if value < 1:
                raise ConfigError(f"{name} must be a positive number of seconds")
        if self.db_statement_timeout < 0:
            raise ConfigError("REGISTRY_DB_STATEMENT_TIMEOUT must be 0 (no limit) or more")
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


def _secret(environ: Mapping[str, str], name: str, default: str) -> str:
    """NAME from the environment, or the contents of the file NAME_FILE names (a trailing
    newline dropped); the file's contents never appear in an error."""
    value, path = environ.get(name), environ.get(f"{name}_FILE", "").strip()
    if value is not None and path:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if not path:
        return default if value is None else value
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read {name}_FILE {path!r}: {reason}") from None
