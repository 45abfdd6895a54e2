"""The simulator's middlewares: every error as its dialect's error body (v1's ``{category, code, message,
details}``, v2's ``{type, description, id}`` under ``/api/v2``), and the APIs' credentials check."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from catapult_nb.simulator.errors import ApiError
from catapult_nb.simulator.resources import new_id
from catapult_nb.simulator.state import STATE_KEY

__all__ = ["auth_middleware", "errors_middleware", "listeners_middleware"]

log = logging.getLogger(__name__)


V2_PREFIX = "/api/v2/"


def error_response(error: ApiError, request: web.Request) -> web.Response:
    if request.path.startswith(V2_PREFIX):
        return web.json_response(
            {"type": error.code, "description": error.message, "id": new_id("err")}, status=error.status
        )
    category = error.category if error.category != "v2" else "bad-request"  # a v2 check on a /_sim route
    details = [{"name": name, "value": str(value)} for name, value in error.details.items()]
    details += [
        {"name": "requestMethod", "value": request.method},
        {"name": "requestPath", "value": request.path.lstrip("/")},
    ]
    body = {"category": category, "code": error.code, "message": error.message, "details": details}
    return web.json_response(body, status=error.status)


HTTP_ERRORS = {
    404: ("not-found", "resource-not-found", "There is no resource at {path}; see the simulator's routes"),
    405: ("bad-request", "method-not-allowed", "{method} is not allowed on {path}"),
    413: ("bad-request", "request-too-large", "The request body is too large"),
}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        category, code, template = HTTP_ERRORS.get(
            exc.status, ("bad-request", "bad-request", "The request could not be handled: " + exc.reason)
        )
        message = template.format(method=request.method, path=request.path)
        return error_response(ApiError(exc.status, category, code, message), request)
    except Exception:  # a bug, not a client mistake: log it, answer 500 with the usual body
        log.exception("simulator failed on %s %s", request.method, request.path)
        failure = ApiError(500, "unavailable", "internal-error", "The simulator failed; see its log")
        return error_response(failure, request)


@web.middleware
async def listeners_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tell the state's request listeners about each answered ``/v1`` or ``/api/v2`` request (errors
    included)."""
    response = await handler(request)
    listeners = request.app[STATE_KEY].request_listeners
    if listeners and request.path.startswith(("/v1/", V2_PREFIX)):
        body = getattr(response, "body", None)
        body = body if isinstance(body, bytes) else b""
        for listener in listeners:
            try:
                listener(request.method, request.path, response.status, body)
            except Exception:  # an observer's bug must not change the answer
                log.exception("a request listener failed")
    return response


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """HTTP Basic auth with the API token and secret on ``/v1`` and ``/api/v2``, and the user id (v1) or
    account id (v2) in the path."""
    v2 = request.path.startswith(V2_PREFIX)
    if not v2 and not request.path.startswith("/v1/"):
        return await handler(request)
    config = request.app[STATE_KEY].config
    expected = f"{config.api_token}:{config.api_secret.reveal()}".encode()
    header = request.headers.get("Authorization", "")
    given = b""
    if header[:6].lower() == "basic ":
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            given = b""
    if not hmac.compare_digest(given, expected) and v2:
        raise ApiError(
            401, "v2", "unauthorized",
            "Invalid or missing credentials: use HTTP Basic auth with the simulator's user name (the API "
            "token) and password (the API secret)",
        )
    if v2:
        account = request.match_info.get("accountId")
        if account is not None and account != config.account_id:
            raise ApiError(
                403, "v2", "forbidden",
                f"Account {account} is not this simulator's account; use account id {config.account_id}",
            )
        return await handler(request)
    if not hmac.compare_digest(given, expected):
        raise ApiError(
            401, "authentication", "unauthorized",
            "Invalid or missing credentials: use HTTP Basic auth with the API token as user name "
            "and the API secret as password",
        )
    user = request.match_info.get("userId")
    if user is not None and user != config.user_id:
        raise ApiError(
            403, "authorization", "user-access-denied",
            f"User {config.user_id} does not have permission to access user {user}", userId=user,
        )
    return await handler(request)
