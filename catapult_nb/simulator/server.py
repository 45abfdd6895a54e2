"""Running the simulator's aiohttp app on a socket: shared by :class:`Simulator` and the CLI."""

from __future__ import annotations

import socket

from aiohttp import web

from catapult_nb.serving import IDLE_TIMEOUT, forget_app, refuse_odd_expectations
from catapult_nb.simulator.app import create_app
from catapult_nb.simulator.state import STATE_KEY, SimConfig, SimulatorState

__all__ = ["RunningServer", "start_server"]


class RunningServer:
    """A started app: its runner, and the host and port it really listens on."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self.runner = runner
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> SimulatorState:
        return self.runner.app[STATE_KEY]

    async def close(self) -> None:
        app = self.runner.app
        await self.runner.cleanup()
        forget_app(app)


async def start_server(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Bind ``host:port`` (0 picks a free port) and serve the simulator on the running loop.

    Raises OSError when the address cannot be bound (port in use, unknown host).
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
    runner = web.AppRunner(
        create_app(config),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=0.5,
        keepalive_timeout=IDLE_TIMEOUT,  # idle connections, and ones that never finish their headers
    )
    await runner.setup()
    refuse_odd_expectations(runner)
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    return RunningServer(runner, host, sock.getsockname()[1])
