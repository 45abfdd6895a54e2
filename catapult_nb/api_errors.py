"""What the Catapult v1 API answers when a request fails, read into a :class:`CatapultError` whose message
says what happened and what to do next (reference §6), and when to try again after a 429 or 503.
:class:`~catapult_nb.client.CatapultClient` raises these; import them from :mod:`catapult_nb`.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import requests

from catapult_nb.credentials import ENV_SECRET, ENV_TOKEN, ENV_USER_ID
from catapult_nb.errors import Error
from catapult_nb.redact import redact

__all__ = ["CatapultError", "error_from_response", "retry_delay", "snippet"]

_PROPERTY_IN_MESSAGE = re.compile(r"property '([^']+)'")


class CatapultError(Error):
    """The API refused a request, or it could not be sent.

    Attributes mirror the API's error body (reference §6) plus what was asked:

    - ``status``: HTTP status, or ``None`` when no answer came (connection error, timeout);
    - ``category``, ``code``: e.g. ``"conflict"``, ``"call-duplicate-gather-error"`` (``None`` when the
      body had none);
    - ``message``: the API's message, or a description of what went wrong;
    - ``details``: the body's ``details`` as sent (usually a list of ``{"name", "value"}``), else ``[]``;
    - ``method``, ``path``: the request, e.g. ``"POST"``, ``"/v1/users/u-…/calls/c-…/gather"``;
    - ``property``: for a 400, the property the API named (``"maxDigits"``), if any;
    - ``retry_after``: for a 429, seconds until the rate limit resets, if known;
    - ``hint``: what to do next (also part of ``str()``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        code: str | None = None,
        details: Any = None,
        method: str = "",
        path: str = "",
        property: str | None = None,
        retry_after: float | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.code = code
        self.message = message
        self.details = [] if details is None else details
        self.method = method
        self.path = path
        self.property = property
        self.retry_after = retry_after
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        if self.status is None:
            head = f"{where} failed: {self.message}"
        else:
            kind = "/".join(part for part in (self.category, self.code) if part)
            head = f"{where} → {self.status}{' ' + kind if kind else ''}: {self.message}"
        return f"{head}. {self.hint}" if self.hint else head

    def __repr__(self) -> str:
        return (
            f"CatapultError(status={self.status!r}, category={self.category!r}, code={self.code!r}, "
            f"message={self.message!r}, method={self.method!r}, path={self.path!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields: the default Exception pickling would lose them.
        return (_rebuild_error, (self.message, dict(self.__dict__)))


def _rebuild_error(message: str, state: dict[str, Any]) -> CatapultError:
    error = CatapultError(message)
    error.__dict__.update(state)
    return error


def snippet(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_delay(
    headers: Mapping[str, str], attempt: int, *, backoff: float, cap: float, now: float | None = None
) -> float:
    """Seconds to wait before try ``attempt + 1``, between 0 and ``cap``.

    ``X-RateLimit-Reset`` (the v1 API's 429 header: epoch milliseconds; epoch seconds and plain
    seconds-from-now are read too) wins, then ``Retry-After`` (seconds or an HTTP date), else exponential
    backoff from ``backoff``.
    """
    now = time.time() if now is None else now
    delay: float | None = None
    reset = _number(headers.get("X-RateLimit-Reset"))
    if reset is not None:
        if reset > 1e11:
            delay = reset / 1000.0 - now
        elif reset > 1e9:
            delay = reset - now
        else:
            delay = reset
    else:
        retry_after = headers.get("Retry-After")
        seconds = _number(retry_after)
        if seconds is not None:
            delay = seconds
        elif retry_after:
            try:
                delay = email.utils.parsedate_to_datetime(retry_after).timestamp() - now
            except (TypeError, ValueError):
                delay = None
    if delay is None:
        delay = backoff * 2 ** (attempt - 1)
    return min(max(delay, 0.0), cap)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


# --------------------------------------------------------------------------------------------------
# Turning an error answer into a CatapultError.


def error_from_response(
    response: requests.Response,
    method: str,
    path: str,
    *,
    secrets: tuple[str, ...] = (),
    attempts: int = 1,
    retried: bool = False,
) -> CatapultError:
    """Read any error answer of reference §6 — the full body, ``{"message"}`` only, no body, or not
    JSON at all — into a :class:`CatapultError` with a hint."""
    status = response.status_code
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    if isinstance(body, dict):
        category = _text_or_none(body.get("category"))
        code = _text_or_none(body.get("code"))
        message = _text_or_none(body.get("message"))
        details = body.get("details")
    else:
        category = code = message = None
        details = None
        if response.content:
            message = snippet(response.text)
    if not message:
        reason = response.reason or ""
        message = f"HTTP {status} {reason}".strip()
        message += " (rate limit reached)" if status == 429 else ""
        message += " (the body was empty)" if not response.content else ""
    message = redact(message, secrets)
    details = _masked(details, secrets)
    prop = _property(message, details) if status == 400 else None
    retry_after = None
    if status == 429:
        retry_after = retry_delay(response.headers, attempts, backoff=0.0, cap=float("inf"))
        if not response.headers.get("X-RateLimit-Reset") and not response.headers.get("Retry-After"):
            retry_after = None
    hint = _hint(status, category, code, prop, retry_after, path, attempts, retried)
    return CatapultError(
        message, status=status, category=category, code=code, details=details, method=method,
        path=path, property=prop, retry_after=retry_after, hint=hint,
    )


def _masked(value: Any, secrets: tuple[str, ...]) -> Any:
    """``details`` as sent, with every string in it scrubbed like the message."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_masked(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _masked(item, secrets) for key, item in value.items()}
    return value


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _property(message: str, details: Any) -> str | None:
    match = _PROPERTY_IN_MESSAGE.search(message)
    if match:
        return match.group(1)
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and item.get("name") in ("property", "propertyName"):
                return str(item.get("value"))
    return None


def _hint(
    status: int,
    category: str | None,
    code: str | None,
    prop: str | None,
    retry_after: float | None,
    path: str,
    attempts: int,
    retried: bool,
) -> str:
    tries = f" (gave up after {attempts} tries)" if attempts > 1 else ""
    if code == "call-duplicate-gather-error" or (status == 409 and path.endswith("/gather")):
        return (
            "A gather is already running on this call: stop the running gather first "
            "(client.stop_gather(call_id, gather_id)) or wait for its gather event, then create the new one"
        )
    if code == "user-access-denied":
        return f"These credentials may not use this user id: check {ENV_USER_ID}"
    if status == 401 or category == "authentication":
        return (
            f"Check {ENV_TOKEN} and {ENV_SECRET} (the token is the Basic auth user name, the secret "
            "the password); with the simulator, use the token and secret it was started with"
        )
    if code == "call-not-found":
        return "The call may have ended, or the id is wrong: client.list_calls() shows this user's calls"
    if status == 404:
        return "Check the id: it may be mistyped or belong to another call"
    if code == "call-invalid-state":
        return (
            "The call is not in a state that allows this (a gather needs an answered, active call; an "
            "ended call takes no more requests): check client.get_call(call_id)['state']"
        )
    if code == "call-rate-limit":
        return "Too many calls: the API allows about 1 new call per second; wait a little and try again"
    if status == 400:
        what = f"fix {prop}" if prop else "fix the request"
        return f"The API refused the request: {what} and send it again"
    if status == 429:
        when = f"wait {retry_after:.1f} s" if retry_after is not None else "wait a moment"
        again = "" if retried else " (this request is not retried automatically, so nothing happens twice)"
        return f"Rate limited{tries}: {when} and send it again{again}"
    if status >= 500:
        check = (
            "" if retried else "; if this was a create, check (get_call / list_calls) that it did not "
            "happen before repeating it"
        )
        return f"The API had a problem{tries}: try again in a moment{check}"
    if status == 403:
        return "This account or token is not allowed to do this"
    return ""
