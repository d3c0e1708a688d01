"""Real processes for the fault tests: the registry (gunicorn, or `registry serve`) on a
loopback port, which a test kills and starts again on the same port; a PostgreSQL server of
the test's own (initdb into a temporary folder, its own port), which a test stops and starts;
and `lender-client` runs."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
import requests

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


#: Every figure measured in this session, printed at its end (see conftest.py).
FIGURES: list[str] = []


def figure(name: str, **values: Any) -> None:
    """Record a measured figure: printed at the end of the run (and at once with -s)."""
    parts = " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    FIGURES.append(f"{name}: {parts}")
    print(f"\nFIGURE {name}: {parts}", flush=True)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class RegistryServer:
    """The registry in a subprocess of its own process group, on a port kept across restarts.

    ``kind`` is ``"gunicorn"`` (one worker, four threads: production's server) or
    ``"serve"`` (`registry serve`, one process). ``preexec`` runs in the child before the
    server: resource limits, capabilities given up.
    """

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        kind: str = "gunicorn",
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.kind = kind
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.preexec = preexec
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"registry-{self.port}.log"
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "serve":
            return [str(BIN / "registry"), "serve", "--host", LOOPBACK, "--port", str(self.port)]
        return [
            str(BIN / "gunicorn"),
            "-c", "python:registry.gunicorn_config",
            "-w", "1",
            "--threads", "4",
            "-b", f"{LOOPBACK}:{self.port}",
            "registry:create_app()",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until /readyz answers 200; the seconds that took."""
        keys = self.workdir / "oprf-keys"
        keys.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "REGISTRY_ENV": "production",
            "REGISTRY_SECRET_KEY": secrets.token_hex(32),
            "REGISTRY_DATABASE_URL": self.database_url,
            "REGISTRY_OPRF_KEY_DIR": str(keys),
            "REGISTRY_LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.extra_env,
        }
        for name in ("REGISTRY_BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(name, None)
        self._log = self.log_path.open("ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            env=env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # its own process group: killed as one
            preexec_fn=self.preexec,  # resource limits, set in the child before exec
        )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"the registry did not become ready:\n{self.log()[-3000:]}", pytrace=False)

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up of any kind."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._close_log()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to what is left."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self._close_log()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def lender_client(
    url: str, api_key: str, *args: str, cwd: Path, stdout: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """`lender-client --url URL ARGS...` in a subprocess (the API key in its environment)."""
    env = {
        **os.environ,
        "REGISTRY_API_KEY": api_key,
        "REGISTRY_TOKEN_CACHE": "none",
        "COLUMNS": "160",
    }
    return subprocess.Popen(
        [str(BIN / "lender-client"), "--url", url, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout or subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def upload_book(
    url: str, api_key: str, path: Path, batch_size: int, *, cwd: Path, stdout: IO[bytes]
) -> subprocess.Popen[bytes]:
    """`lender-client upload PATH --batch-size N --no-progress` in a subprocess: the upload a
    fault test breaks the registry or its database under."""
    return lender_client(
        url,
        api_key,
        "upload",
        str(path),
        "--batch-size",
        str(batch_size),
        "--no-progress",
        cwd=cwd,
        stdout=stdout,
    )


# -- a PostgreSQL server of the test's own ---------------------------------------------------


def _postgres_bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on "
        "PATH: install the postgresql package",
        pytrace=False,
    )


class TestPostgres:
    """`initdb` into a temporary folder, `pg_ctl start` on a port of its own, and stop/start
    at will. initdb refuses to run as root: as root, it runs as the `postgres` user, in a
    folder that user owns (outside pytest's root-only temporary folders)."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="registry-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(
                f"{' '.join(args[:2])} failed: {result.stderr or result.stdout}\n{tail}",
                pytrace=False,
            )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> float:
        started = time.monotonic()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c fsync=off "
            "-c max_connections=40 -c shared_buffers=16MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D", str(self.data),
            "-l", str(self.root / "server.log"),
            "-w",
            "-o", options,
            "start",
        )  # fmt: skip
        return time.monotonic() - started

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: the server dies at once, as in a crash (recovery at the next
        start); ``fast``: it ends every session and shuts down cleanly."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(BaseException):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
