"""The real server under gunicorn on a loopback port, and CPU accounting from /proc."""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from tests.bench.settings import LOOPBACK

BIN = Path(sys.executable).parent
# The checkout whose registry gunicorn runs: this one, or another (an A/B against an earlier
# commit: `git worktree add /tmp/before <commit>`, then BENCH_SERVER_ROOT=/tmp/before).
HARNESS_ROOT = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("BENCH_SERVER_ROOT") or HARNESS_ROOT)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerError(RuntimeError):
    pass


class Gunicorn:
    """`gunicorn -c python:registry.gunicorn_config -w N -b 127.0.0.1:PORT` in its own process
    group, which `stop()` (and leaving the `with` block, however) kills as a whole."""

    def __init__(
        self,
        database_url: str,
        workers: int,
        log_path: Path,
        metrics_dir: Path,
        app: str = "registry:create_app()",
        environment: dict[str, str] | None = None,
        root: Path = ROOT,
    ) -> None:
        self.root = root  # the checkout gunicorn imports the app from
        self.database_url = database_url
        # 0: the configuration's own count (one a core: WEB_CONCURRENCY is not passed on).
        self.configured_workers = workers <= 0
        self.workers = (os.cpu_count() or 2) if workers <= 0 else workers
        self.app = app  # the WSGI app gunicorn loads (the bench's bare Flask app, say)
        self.environment = environment or {}
        self.log_path = log_path
        self.metrics_dir = metrics_dir
        self.metrics_token = secrets.token_urlsafe(24)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> Gunicorn:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.metrics_dir.glob("*.db"):
            stale.unlink()
        env = {
            **os.environ,
            "REGISTRY_ENV": "production",
            "REGISTRY_SECRET_KEY": secrets.token_hex(32),
            "REGISTRY_DATABASE_URL": self.database_url,
            # Production closes /metrics without a token: the bench reads it with this one.
            "REGISTRY_METRICS_TOKEN": self.metrics_token,
            # The bench measures throughput, not the lender quotas: lift them out of its way.
            "REGISTRY_INQUIRIES_PER_DAY": str(10**9),
            "REGISTRY_INQUIRY_BURST_PER_MINUTE": str(10**9),
            "REGISTRY_UPLOAD_RECORDS_PER_DAY": str(10**9),
            "REGISTRY_LOG_LEVEL": "WARNING",
            # As the Dockerfile runs it: metrics aggregated across workers.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        env.update(self.environment)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        env.pop("REGISTRY_BIND", None)
        env.pop("WEB_CONCURRENCY", None)
        self._log = self.log_path.open("wb")
        for _attempt in range(3):  # the free port may be taken in between: try another
            self.port = free_port()
            command = [
                str(BIN / "gunicorn"),
                "-c", "python:registry.gunicorn_config",
                *([] if self.configured_workers else ["-w", str(self.workers)]),
                "-b", f"{LOOPBACK}:{self.port}",
                self.app,
            ]  # fmt: skip
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                cwd=self.root,  # so that gunicorn imports that checkout's modules
                start_new_session=True,  # its own process group: killed as one
            )
            if self._wait_ready():
                return
            self.stop()
            self._log = self.log_path.open("ab")
        raise ServerError(f"gunicorn did not become ready; see {self.log_path}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                probe = "/readyz" if self.app.startswith("registry:") else "/healthz"
                response = requests.get(f"{self.url}{probe}", timeout=2)
                if response.status_code == 200 and self._all_workers_up():
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.2)
        return False

    def _all_workers_up(self) -> bool:
        return len(self.pids()) >= self.workers + 1

    def pids(self) -> list[int]:
        """The master and its workers: every process in the server's process group."""
        if self.process is None:
            return []
        return group_pids(self.process.pid)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            _kill_group(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def metrics_text(self) -> str:
        response = requests.get(
            f"{self.url}/metrics",
            headers={"Authorization": f"Bearer {self.metrics_token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.text


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (a graceful stop of its workers), then SIGKILL to whatever is
    left of the process group, whatever happened."""
    pgid = process.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + 5.0
    while group_pids(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


# -- CPU accounting --------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    return raw[raw.rfind(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # fields[0] is the state, [2] the process group; a zombie has already exited.
        if fields and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:  # utime and stime are fields 14 and 15 of the stat line
            out[pid] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return out


def _system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # without guest time, which is already in user
    return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS


@dataclass
class CpuSnapshot:
    server: dict[int, float]
    postgres: dict[int, float]
    client: float  # this process and its finished children (a lender-client run)
    busy: float
    total: float


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during a phase, by party."""

    server: float  # gunicorn master and workers
    postgres: float  # the benchmark database's backends and the background processes
    client: float  # the load generator, or the lender-client process
    machine_busy_share: float  # busy / available over the phase, all cores

    def per_request_ms(self, requests_done: int) -> dict[str, float]:
        n = max(requests_done, 1)
        return {
            "server": round(self.server / n * 1000, 3),
            "postgres": round(self.postgres / n * 1000, 3),
            "client": round(self.client / n * 1000, 3),
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_share(seconds: float) -> float:
    """How busy the whole machine is over `seconds` (0..1): other work skews the figures."""
    busy, total = _system_busy()
    time.sleep(seconds)
    busy2, total2 = _system_busy()
    return round((busy2 - busy) / (total2 - total), 3) if total2 > total else 0.0


def cpu_snapshot(server_pids: list[int], postgres_pids: list[int]) -> CpuSnapshot:
    busy, total = _system_busy()
    return CpuSnapshot(
        server=_cpu_seconds(server_pids),
        postgres=_cpu_seconds(postgres_pids),
        client=time.process_time() + _children_cpu(),
        busy=busy,
        total=total,
    )


def cpu_use(before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
    def delta(a: dict[int, float], b: dict[int, float]) -> float:
        # A process that started during the phase counts in full; one that ended is lost.
        return sum(value - a.get(pid, 0.0) for pid, value in b.items())

    total = after.total - before.total
    return CpuUse(
        server=round(delta(before.server, after.server), 3),
        postgres=round(delta(before.postgres, after.postgres), 3),
        client=round(after.client - before.client, 3),
        machine_busy_share=round((after.busy - before.busy) / total, 3) if total else 0.0,
    )
