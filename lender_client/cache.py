"""The local token cache and key-pin store (one SQLite file, readable by its owner only).

A borrower's token depends on three things: the normalised ID, the consortium pepper and the
registry's evaluation key. The cache is indexed by a keyed hash of the first two and by the
key (its id and public key), so that:

- the file alone does not reveal which IDs it holds: the index is
  ``HMAC-SHA256(cache_key, "<kind>:<canonical>")`` where ``cache_key`` is derived from the
  pepper, so without the pepper a stolen cache cannot be searched for a given ID (nor can
  the roughly 10^11 resident IDs be tried against it offline);
- a token made under a retired key or another pepper is never returned: those inputs give
  another index or another key column.

The same file holds the registry keys this lender trusts (``key_pins``): the pins are what
makes a changed or new registry key an error instead of a silent change of every token.

Default location: ``$XDG_DATA_HOME/lender-client/tokens.sqlite3``, else
``~/.local/share/lender-client/tokens.sqlite3``; ``$REGISTRY_TOKEN_CACHE`` overrides it, and
the value ``none`` disables the cache (pins are then only kept in memory). The directory is
created with mode 0700 and the file with mode 0600.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

__all__ = [
    "CACHE_ENV",
    "DISABLED",
    "MemoryPinStore",
    "PinStore",
    "TokenCache",
    "default_cache_path",
    "resolve_cache_path",
]

CACHE_ENV = "REGISTRY_TOKEN_CACHE"
#: The value of ``$REGISTRY_TOKEN_CACHE`` / ``--token-cache`` that turns the cache off.
DISABLED = "none"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tokens (
        lookup BLOB NOT NULL,
        key_id TEXT NOT NULL,
        public_key BLOB NOT NULL,
        token BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (lookup, key_id, public_key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS key_pins (
        key_id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        pinned_at TEXT NOT NULL,
        how TEXT NOT NULL
    )""",
)
# SQLite's limit on host parameters is 32766 in current versions, 999 in old ones.
_CHUNK = 500


class PinStore(Protocol):
    """Where the trusted registry keys are kept: ``key_id`` -> public key (64 hex)."""

    def pins(self) -> dict[str, str]: ...

    def pin(self, key_id: str, public_key: str, how: str) -> None: ...


class MemoryPinStore:
    """Pins kept for the life of the process only (the cache is disabled)."""

    def __init__(self) -> None:
        self._pins: dict[str, str] = {}
        self._lock = threading.Lock()

    def pins(self) -> dict[str, str]:
        with self._lock:
            return dict(self._pins)

    def pin(self, key_id: str, public_key: str, how: str) -> None:
        with self._lock:
            self._pins[key_id] = public_key


def default_cache_path() -> Path:
    """``$XDG_DATA_HOME/lender-client/tokens.sqlite3`` (``~/.local/share`` if unset)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "lender-client" / "tokens.sqlite3"


def resolve_cache_path(value: str | os.PathLike[str] | None) -> Path | None:
    """The cache file to use: ``value``, else ``$REGISTRY_TOKEN_CACHE``, else the default;
    ``None`` when the setting is ``none`` (disabled)."""
    if value is None:
        value = os.environ.get(CACHE_ENV, "").strip() or None
    if value is None:
        return default_cache_path()
    text = os.fspath(value)
    if text.strip().lower() == DISABLED:
        return None
    return Path(text).expanduser()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenCache:
    """Tokens already obtained, and the pinned registry keys, in one SQLite file.

    Safe to use from several threads of one process (one connection behind a lock) and from
    several processes (SQLite's own locking). Entries never expire: a token is the same for
    as long as its key and pepper are, and under another key it is looked up under another
    key column.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._create_private_file()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            with self._lock:
                for statement in _SCHEMA:
                    self._db.execute(statement)
        except sqlite3.DatabaseError as exc:
            raise OSError(f"{self.path}: not a usable token cache ({exc})") from None

    def _create_private_file(self) -> None:
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode is filtered by the umask; say it again.
            directory.chmod(0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            info = os.fstat(fd)
            if info.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"TokenCache(path={str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- tokens ---------------------------------------------------------------------------

    def get_many(
        self, lookups: Sequence[bytes], key_id: str, public_key: bytes
    ) -> dict[bytes, bytes]:
        """The cached tokens among ``lookups`` for this key, as ``lookup -> token``."""
        found: dict[bytes, bytes] = {}
        unique = list(dict.fromkeys(lookups))
        with self._lock:
            for start in range(0, len(unique), _CHUNK):
                part = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT lookup, token FROM tokens WHERE key_id = ? AND public_key = ? "  # noqa: S608 - placeholders only; every value is bound
                    f"AND lookup IN ({marks})",
                    (key_id, public_key, *part),
                )
                for lookup, token in rows:
                    found[bytes(lookup)] = bytes(token)
        return found

    def put_many(self, entries: Mapping[bytes, bytes], key_id: str, public_key: bytes) -> None:
        """Remember ``lookup -> token`` for this key."""
        if not entries:
            return
        now = _now()
        rows = [(lookup, key_id, public_key, token, now) for lookup, token in entries.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO tokens (lookup, key_id, public_key, token, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def count(self, key_id: str | None = None) -> int:
        """How many tokens are cached (under ``key_id`` if given)."""
        with self._lock:
            if key_id is None:
                row = self._db.execute("SELECT count(*) FROM tokens").fetchone()
            else:
                row = self._db.execute(
                    "SELECT count(*) FROM tokens WHERE key_id = ?", (key_id,)
                ).fetchone()
        return int(row[0])

    def forget_keys_except(self, key_ids: Iterable[str]) -> int:
        """Drop the tokens of every key not in ``key_ids`` (retired keys); how many went."""
        keep = list(key_ids)
        marks = ",".join("?" * len(keep))
        where = f"WHERE key_id NOT IN ({marks})" if keep else ""
        with self._lock:
            cursor = self._db.execute(f"DELETE FROM tokens {where}", keep)  # noqa: S608 - placeholders only; every value is bound
        return cursor.rowcount

    # -- key pins -------------------------------------------------------------------------

    def pins(self) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT key_id, public_key FROM key_pins").fetchall()
        return {str(k): str(v) for k, v in rows}

    def pin(self, key_id: str, public_key: str, how: str) -> None:
        """Trust ``public_key`` (64 hex) for ``key_id`` from now on (replacing a pin)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO key_pins (key_id, public_key, pinned_at, how)"
                " VALUES (?, ?, ?, ?)",
                (key_id, public_key, _now(), how),
            )
