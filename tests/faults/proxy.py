"""A loopback TCP proxy that breaks HTTP exchanges on purpose, one request at a time.

Each request that goes through takes the next fault of the script (then ``pass`` for the rest):

- ``pass``: forwarded, answered as is;
- ``slow``: answered as is, a little late (within the client's timeout);
- ``drop``: the connection is closed before the request reaches the registry;
- ``reset``: the same, with a TCP reset;
- ``drop_after``: the registry gets the request and answers, but the answer is lost (the
  connection closed): the case idempotency keys exist for;
- ``delay``: the answer comes after the client's read timeout (it has given up by then);
- ``truncate``: half the body of the answer, then the connection closes (mid-body);
- ``cut_headers``: the first bytes of the status line only.

Requests and answers are framed by their Content-Length (the registry always sends one).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

FAULTS = ("pass", "slow", "drop", "reset", "drop_after", "delay", "truncate", "cut_headers")


class _Closed(Exception):
    pass


def _read_message(sock: socket.socket, buffer: bytearray) -> bytes:
    """One HTTP message (head and Content-Length body) from ``sock``; what follows stays in
    ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed
        buffer.extend(chunk)
    end = buffer.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buffer[:end]).split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"transfer-encoding":
            raise AssertionError("the proxy frames by Content-Length only")
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed
        buffer.extend(chunk)
    message = bytes(buffer[: end + length])
    del buffer[: end + length]
    return message


@dataclass
class FaultyProxy:
    upstream: tuple[str, int]
    #: The client's read timeout: a ``delay`` waits longer than it.
    delay: float = 2.5
    script: deque[str] = field(default_factory=deque)
    #: (request number, fault, request line) for every request seen.
    seen: list[tuple[int, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._lock = threading.Lock()
        self._closing = False
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def faults(self, *names: str) -> None:
        for name in names:
            assert name in FAULTS, name
        with self._lock:
            self.script.extend(names)

    def applied(self) -> list[str]:
        return [fault for _, fault, _ in self.seen if fault != "pass"]

    def close(self) -> None:
        """Stop, and close every connection still open (the server's threads end with them)."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept()
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _next_fault(self, request: bytes) -> str:
        with self._lock:
            fault = self.script.popleft() if self.script else "pass"
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            self.seen.append((len(self.seen) + 1, fault, line))
            return fault

    def _track(self, sock: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        from_client, from_upstream = bytearray(), bytearray()
        self._track(client, True)
        try:
            while True:
                request = _read_message(client, from_client)
                fault = self._next_fault(request)
                if fault == "drop":
                    return
                if fault == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream)
                    self._track(upstream, True)
                upstream.sendall(request)
                answer = _read_message(upstream, from_upstream)
                head, _, body = answer.partition(b"\r\n\r\n")
                if fault == "drop_after":
                    return
                if fault == "delay":
                    time.sleep(self.delay)
                    with contextlib.suppress(OSError):
                        client.sendall(answer)
                    return
                if fault == "truncate":
                    client.sendall(head + b"\r\n\r\n" + body[: max(1, len(body) // 2)])
                    return
                if fault == "cut_headers":
                    client.sendall(head[:12])
                    return
                if fault == "slow":
                    time.sleep(0.2)
                client.sendall(answer)
                if b"connection: close" in head.lower():
                    return
        except (_Closed, OSError):
            return
        finally:
            self._track(client, False)
            client.close()
            if upstream is not None:
                self._track(upstream, False)
                upstream.close()
