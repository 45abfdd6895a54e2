"""What the package's two HTTP servers, the callback receiver and the simulator, share at their edge.

Both may face traffic nobody planned for (the receiver sits behind a public tunnel; the simulator's
``/_sim`` routes need no credentials), so both close idle connections and answer every ``Expect``
header without failing.
"""

from __future__ import annotations

from aiohttp import web, web_app

__all__ = ["IDLE_TIMEOUT", "close_when_asked", "forget_app", "refuse_odd_expectations"]

#: Seconds a connection may sit idle, or take to send a whole request line and headers, before it is
#: closed (aiohttp's keep-alive timer also runs from the moment a connection opens).
IDLE_TIMEOUT = 15.0


async def close_when_asked(request: web.Request, response: web.StreamResponse) -> None:
    """Close the connection after the answer when any ``Connection`` header asks for it; add to an app's
    ``on_response_prepare``.

    aiohttp reads only the first ``Connection`` header, so ``Connection: keep-alive`` then
    ``Connection: close`` on HTTP/1.0 kept the connection open.
    """
    if any("close" in value.lower() for value in request.headers.getall("Connection", [])):
        response.force_close()


def refuse_odd_expectations(runner: web.AppRunner) -> None:
    """Answer 417 to any ``Expect`` header but ``100-continue``, before routing; call after ``setup()``.

    aiohttp's own answer echoes the header, which fails (a 500) when it holds bytes that are not UTF-8;
    its 404 and 405 answers (``CONNECT`` is never routed) use that handler whatever the routes say.
    """
    server = runner.server
    assert server is not None, "call runner.setup() first"
    handler = server.request_handler

    async def guarded(request: web.BaseRequest) -> web.StreamResponse:
        expect = request.headers.get("Expect")
        if expect is not None and expect.lower() != "100-continue":
            return web.json_response(
                {"error": "expectation-failed", "message": "only 'Expect: 100-continue' is understood"},
                status=417,
            )
        return await handler(request)

    server.request_handler = guarded


def forget_app(app: web.Application) -> None:
    """Let a cleaned-up application go.

    aiohttp caches each (handler, applications) middleware chain in a module-level cache of 1024
    entries, which would keep a stopped app, and all its state, alive. The cache is only a speed-up:
    emptying it costs the apps still running one rebuild of each chain.
    """
    cache = getattr(web_app, "_cached_build_middleware", None)
    if app.middlewares and cache is not None:
        cache.cache_clear()
