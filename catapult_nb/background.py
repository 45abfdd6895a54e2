"""The one background-server base: an asyncio loop on a daemon thread, and an aiohttp app served on it.

A notebook's kernel already runs an event loop on its main thread, so everything that serves or speaks
HTTP asynchronously runs on a loop of its own, in a thread of its own. :class:`BackgroundLoop` owns that
thread and loop (start, hand work to it, stop); :class:`BackgroundServer` adds a socket, an aiohttp runner
and a site, as aiohttp's ``BaseTestServer`` does: a subclass only says how to make its runner
(:meth:`BackgroundServer._make_runner`). The callback receiver and the simulator are servers; a campaign's
over-the-wire driver runs its callers on a :class:`BackgroundLoop`. A WSGI application (your own Flask or
Django app, in a test) is served by :class:`WSGIServer`, on a thread of its own too.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.simple_server import WSGIServer as _SimpleWSGIServer

from aiohttp import web

from catapult_nb.serving import forget_app, refuse_odd_expectations

__all__ = ["BackgroundLoop", "BackgroundServer", "WSGIServer", "bind_socket"]

T = TypeVar("T")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (0 picks a free port), IPv4 or IPv6.

    :param host: the address to listen on (``127.0.0.1``, ``::1``, ``0.0.0.0`` …).
    :param port: the port, or 0 for a free one.
    :returns: the bound socket; its ``getsockname()[1]`` is the port really listened on.
    :raises OSError: when the address cannot be bound (port in use, unknown host).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class BackgroundLoop:
    """An event loop running on a daemon thread of its own, until :meth:`stop`.

    :param name: the thread's name (shown by debuggers and ``threading.enumerate()``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None  # set while running
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self.loop is not None

    def start(self, setup: Callable[[], Awaitable[T]], teardown: Callable[[T], Awaitable[None]],
              timeout: float = 10.0) -> T:
        """Start the thread and its loop, run ``setup()`` on it and return what it returned.

        The loop then runs until :meth:`stop`, which runs ``teardown(result)`` on it before closing it.

        :param setup: a coroutine function run first on the new loop (bind, start serving …).
        :param teardown: a coroutine function given ``setup``'s result, run when the loop stops.
        :param timeout: seconds to wait for ``setup`` to finish.
        :returns: ``setup``'s result.
        :raises RuntimeError: when ``setup`` did not finish within ``timeout``.
        :raises Exception: whatever ``setup`` raised (the thread and loop are gone by then).
        """
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        outcome: list[Any] = []  # [result] or [None, error]

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                result = loop.run_until_complete(setup())
            except BaseException as exc:  # handed to start()'s caller, who decides
                outcome[:] = [None, exc]
                ready.set()
                loop.close()
                return
            outcome[:] = [result]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(teardown(result))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=serve, name=self.name, daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"{self.name} did not start within {timeout} s")
        if len(outcome) == 2:
            thread.join(timeout)
            raise outcome[1]
        self.loop, self._thread = loop, thread
        return outcome[0]  # type: ignore[no-any-return]

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop from another thread and wait for its result.

        :raises RuntimeError: when the loop is not running.
        :raises TimeoutError: when the result is not there within ``timeout`` seconds.
        """
        if self.loop is None:
            coroutine.close()
            raise RuntimeError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (its teardown runs first) and wait for the thread; a no-op when not running."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self.loop = self._thread = None

    @staticmethod
    def run(coroutine: Coroutine[Any, Any, T], name: str) -> T:
        """Run ``coroutine`` to its end on a fresh loop in a thread of its own, and return its result.

        For work that must not run on the caller's loop (a notebook's kernel has one running).

        :raises Exception: whatever the coroutine raised.
        """
        outcome: list[Any] = []

        def main() -> None:
            try:
                outcome[:] = [asyncio.run(coroutine)]
            except BaseException as exc:  # handed to the calling thread below
                outcome[:] = [None, exc]

        thread = threading.Thread(target=main, name=name, daemon=True)
        thread.start()
        thread.join()
        if len(outcome) == 2:
            raise outcome[1]
        return outcome[0]  # type: ignore[no-any-return]


class BackgroundServer:
    """An aiohttp app served from a :class:`BackgroundLoop`; subclasses supply :meth:`_make_runner`.

    The base binds the socket (:func:`bind_socket`), sets up the runner (answering odd ``Expect``
    headers, see :mod:`catapult_nb.serving`), starts the site, and on :meth:`stop_serving` tears it all
    down and lets the app go.

    :param host: the address to listen on.
    :param port: the port, or 0 for a free one.
    :param name: the serving thread's name.
    """

    def __init__(self, host: str, port: int, name: str) -> None:
        self.host = host
        self.requested_port = port  # what was asked for; 0 = any free port
        self.runner: web.AppRunner | None = None  # set while serving
        self._port: int | None = None
        self._background = BackgroundLoop(name)

    async def _make_runner(self) -> web.AppRunner:
        """The runner of the app to serve (not yet set up). Runs on the serving loop."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True while serving."""
        return self.runner is not None

    @property
    def port(self) -> int:
        """The port really listened on (the requested one until started)."""
        return self._port if self._port is not None else self.requested_port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``; raises RuntimeError when not serving."""
        if self.runner is None:
            raise RuntimeError(f"{self._background.name} is not running: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The serving loop, while serving."""
        return self._background.loop

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the serving loop and wait for its result (see :meth:`BackgroundLoop.call`)."""
        return self._background.call(coroutine, timeout)

    def start_serving(self, timeout: float = 10.0) -> None:
        """Bind, set the runner up and start serving on a thread of its own.

        :raises OSError: when the address cannot be bound.
        :raises RuntimeError: when the server did not come up within ``timeout`` seconds.
        """
        self.runner, self._port = self._background.start(self._open, self._close, timeout)

    def stop_serving(self, timeout: float = 10.0) -> None:
        """Stop serving (the runner is cleaned up on its loop); a no-op when not serving."""
        self._background.stop(timeout)
        self.runner = None
        self._port = None

    async def _open(self) -> tuple[web.AppRunner, int]:
        sock = bind_socket(self.host, self.requested_port)
        try:
            runner = await self._make_runner()
            await runner.setup()
            refuse_odd_expectations(runner)
            try:
                await web.SockSite(runner, sock, backlog=1024).start()
            except BaseException:
                await runner.cleanup()
                raise
        except BaseException:
            sock.close()
            raise
        return runner, sock.getsockname()[1]

    @staticmethod
    async def _close(opened: tuple[web.AppRunner, int]) -> None:
        runner = opened[0]
        app = runner.app
        await runner.cleanup()
        forget_app(app)  # aiohttp's middleware cache would keep the stopped app and its state alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a test's output is not an access log
        pass


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, _SimpleWSGIServer):
    daemon_threads = True
    block_on_close = False


class WSGIServer:
    """A WSGI application (Flask, Django, …) served on 127.0.0.1 from a daemon thread, a thread per request.

    :param app: the WSGI application.
    :param port: the port, or 0 for a free one.
    :param name: the serving thread's name.
    """

    def __init__(self, app: Any, port: int = 0, name: str = "catapult-app") -> None:
        self.app = app
        self.requested_port = port
        self.name = name
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; raises RuntimeError when not serving."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running: call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> str:
        """Bind and serve from a thread of its own.

        :returns: :attr:`base_url`.
        :raises OSError: when the port cannot be bound.
        """
        server = make_server(
            "127.0.0.1", self.requested_port, self.app, server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, close the socket and wait for the thread; a no-op when not serving."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout)
        self._server = self._thread = None
