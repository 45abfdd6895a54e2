"""The simulator's app factory: the top of :mod:`catapult_nb.simulator`, importing everything below it.

The gather and call rules live in :mod:`catapult_nb.engine`; the routes in
:mod:`~catapult_nb.simulator.routes` (v1 and the virtual phone) and
:mod:`~catapult_nb.simulator.v2_routes` (v2, whose calls run BXML in
:mod:`~catapult_nb.simulator.v2_calls`), the request checks in :mod:`~catapult_nb.simulator.validation`,
the calls and their timers in :mod:`~catapult_nb.simulator.state`, their JSON views in
:mod:`~catapult_nb.simulator.resources`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from catapult_nb.serving import close_when_asked
from catapult_nb.simulator.clock import SimClock
from catapult_nb.simulator.middlewares import auth_middleware, errors_middleware, listeners_middleware
from catapult_nb.simulator.routes import routes
from catapult_nb.simulator.state import STATE_KEY, SimConfig, SimulatorState
from catapult_nb.simulator.v2_routes import V2_KEY
from catapult_nb.simulator.v2_routes import routes as v2_routes
from catapult_nb.simulator.v2_runtime import V2Runtime

__all__ = ["create_app"]


def create_app(config: SimConfig) -> web.Application:
    """The aiohttp application for one simulator.

    :param config: how the simulator behaves (speed, credentials, callback retries).
    :returns: an application whose state (``app[STATE_KEY]``) is made on the serving loop when it starts,
        and whose timers and callback sender are shut down when it is cleaned up.
    """
    middlewares = [listeners_middleware, errors_middleware, auth_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=1024**2)

    async def simulator_state(app: web.Application) -> AsyncIterator[None]:
        state = SimulatorState(config, SimClock(asyncio.get_running_loop(), config.speed))
        await state.deliverer.start()
        app[STATE_KEY] = state
        app[V2_KEY] = runtime = V2Runtime(state)
        yield
        await runtime.close()
        await state.close()

    app.cleanup_ctx.append(simulator_state)
    app.on_response_prepare.append(close_when_asked)
    app.add_routes(routes)
    app.add_routes(v2_routes)
    return app
