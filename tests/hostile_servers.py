"""Servers on 127.0.0.1 that misbehave at the socket level, for clients that must keep their deadlines.

:class:`RawServer` accepts connections and hands each one to a function of its own, on a thread of its
own; the function speaks (or fails to speak) HTTP by hand. Helpers here are such functions: a server that
drips its answer one byte at a time, one that sends a huge body.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

Handler = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """A TCP server on a free 127.0.0.1 port; each connection runs ``handler(connection, stopping)``.

    ``stopping`` is set when the server closes: a handler that waits should wait on it, so that the test
    ends promptly.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        self._accepting.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stopping.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        # a client that gives up and closes is what these servers are for
        with connection, contextlib.suppress(OSError):
            self.handler(connection, self.stopping)


def read_request(connection: socket.socket) -> bytes:
    """The request's head (and whatever body came with it in the same reads)."""
    data = b""
    connection.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def dripping(interval: float, head: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") -> Handler:
    """Answers ``head`` and then one byte every ``interval`` seconds: each read is quick, the whole is not."""

    def drip(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection)
        connection.sendall(head)
        while not stopping.wait(interval):
            connection.sendall(b"\0")

    return drip


def dripping_head(interval: float) -> Handler:
    """Sends its status line and headers one byte every ``interval`` seconds (it never finishes)."""

    def drip(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stopping.wait(interval):
            connection.sendall(b"X")

    return drip


class HugeBody:
    """Answers ``status`` with a body of ``size`` zero bytes as fast as it is read; counts what went."""

    def __init__(self, size: int, status: bytes = b"200 OK") -> None:
        self.size, self.status, self.sent = size, status, 0

    def __call__(self, connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection)
        head = b"HTTP/1.1 " + self.status + b"\r\nContent-Length: " + str(self.size).encode() + b"\r\n\r\n"
        connection.sendall(head)
        block = bytes(1 << 16)
        while self.sent < self.size and not stopping.is_set():
            connection.sendall(block[: self.size - self.sent])
            self.sent += min(len(block), self.size - self.sent)
