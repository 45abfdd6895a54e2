"""The simulator's app served on the background-server base; used by :class:`Simulator` and the CLI."""

from __future__ import annotations

from aiohttp import web

from catapult_nb.background import BackgroundServer
from catapult_nb.serving import IDLE_TIMEOUT
from catapult_nb.simulator.app import create_app
from catapult_nb.simulator.state import STATE_KEY, SimConfig, SimulatorState

__all__ = ["SimulatorServer"]


class SimulatorServer(BackgroundServer):
    """One simulator's app on a socket, served from a thread of its own.

    :param config: how the simulator behaves.
    :param host: the address to listen on.
    :param port: the port, or 0 for a free one.
    """

    def __init__(self, config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, "catapult-simulator")
        self.config = config

    async def _make_runner(self) -> web.AppRunner:
        return web.AppRunner(
            create_app(self.config), access_log=None, handle_signals=False, shutdown_timeout=0.5,
            keepalive_timeout=IDLE_TIMEOUT,  # idle connections, and ones that never finish their headers
        )

    @property
    def state(self) -> SimulatorState:
        """The running simulator's calls and timers; raises RuntimeError when not serving."""
        if self.runner is None:
            raise RuntimeError("the simulator is not running")
        return self.runner.app[STATE_KEY]
