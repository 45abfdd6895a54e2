"""Replay stored callbacks to any URL, as the v1 API sent them: your own app, the receiver, a request bin.

::

    rows = session.replay(session.events.query("eventType == 'gather'"), "http://127.0.0.1:5000/catapult",
                          edit={"digits": "99999"})
    rows[["eventType", "status", "elapsedMs", "error"]]

Each event is one request (POST with a JSON body, or GET with query parameters), with the v1 headers
(``Content-Type: application/json; charset=utf-8``, ``User-Agent: BandwidthAPI/v1 (…)``) and, when the
URL carries ``user:password@``, Basic auth as the API sends it. One row per event comes back; a request
that fails (refused, no whole answer within ``timeout``, an answer that is not HTTP) is a row with its
error, and the replay goes on with the next event. Only the status line and headers of an answer are read
(the status is all a row keeps), so a huge answer costs nothing. With ``pace="recorded"``, a gap longer
than ``max_gap`` seconds (after dividing by ``speed``) is shortened to ``max_gap``, with a warning.
``edit`` changes each payload first: a dict of fields to set
(``None`` removes one), or a function of the payload; an ``edit`` that raises is that row's error and
nothing is sent for it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pandas as pd

from catapult_nb.background import BackgroundLoop
from catapult_nb.redact import redact, url_password

__all__ = ["REPLAY_COLUMNS", "USER_AGENT", "replay"]

#: The v1 API's user agent, with this project where the API puts its build stamp.
USER_AGENT = "BandwidthAPI/v1 (catapult_nb replay)"
#: One row per event, in this order.
REPLAY_COLUMNS = ("eventType", "callId", "status", "elapsedMs", "error", "payload")
_PACES = ("fast", "recorded")

Edit = Mapping[str, Any] | Callable[[dict[str, Any]], Any] | None


def replay(
    events: Any,
    url: str,
    *,
    edit: Edit = None,
    pace: str = "fast",
    speed: float = 1.0,
    method: str = "POST",
    timeout: float = 10.0,
    max_gap: float = 60.0,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Send each event to ``url`` and return one row per request.

    :param events: a frame of stored events (``session.events``, ``store.to_dataframe()``, a slice of
        either: its ``payload`` column is sent), or an iterable of payload dicts.
    :param url: where to send them; ``http://user:password@host/…`` sends Basic auth.
    :param edit: a dict of fields to set in each payload (a ``None`` value removes the field), or a
        function that takes a copy of the payload and returns the payload to send (or changes it in place
        and returns None).
    :param pace: ``"fast"``: one after the other, each as soon as the last was answered; ``"recorded"``:
        with the gaps between the events as first received (the ``received`` column, else their ``time``),
        divided by ``speed``.
    :param speed: how much faster than recorded to go with ``pace="recorded"`` (2: half the gaps).
    :param method: ``"POST"`` (JSON body) or ``"GET"`` (query parameters), as ``callbackHttpMethod``.
    :param timeout: seconds each request may take in all, from connecting to the answer's headers (the v1
        ``callbackTimeout`` is at most 10 s).
    :param max_gap: with ``pace="recorded"``, the longest wait between two events, in seconds; longer
        gaps are shortened to it (a warning says how many; ``attrs["gaps_shortened"]`` counts them).
    :param progress: show a progress bar (``tqdm.auto``); None shows one for more than 200 events.
    :returns: a DataFrame with columns ``eventType``, ``callId``, ``status`` (HTTP status, or missing when
        there was no answer), ``elapsedMs``, ``error`` (missing on a 2xx) and ``payload`` (what was sent, or
        would have been: None when ``edit`` failed).
    :raises ValueError: a bad ``url``, ``pace``, ``speed``, ``method``, ``timeout`` or ``max_gap``, or an
        event that is
        not a JSON object; nothing is sent then.
    """
    _check_url(url)
    if pace not in _PACES:
        raise ValueError(f"pace must be 'fast' or 'recorded', got {pace!r}")
    if not _is_positive(speed):
        raise ValueError(f"speed must be a positive number (2: twice as fast as recorded), got {speed!r}")
    method = str(method).upper()
    if method not in ("POST", "GET"):
        raise ValueError(f"method must be 'POST' or 'GET' (the v1 callbackHttpMethod), got {method!r}")
    if not _is_positive(timeout) or timeout > 600:
        raise ValueError(f"timeout must be a number of seconds from 0 to 600, got {timeout!r}")
    if not _is_positive(max_gap):
        raise ValueError(f"max_gap must be a positive number of seconds, got {max_gap!r}")
    if edit is not None and not (isinstance(edit, Mapping) or callable(edit)):
        raise ValueError(
            f"edit must be a dict of fields or a function of the payload, got {type(edit).__name__}"
        )
    payloads, moments = _payloads(events)
    waits, shortened = ([None] * len(moments), 0) if pace == "fast" else _schedule(moments, speed, max_gap)
    if shortened:
        warnings.warn(
            f"{shortened} gap{'s' if shortened > 1 else ''} over {max_gap:g} s "
            f"{'were' if shortened > 1 else 'was'} shortened to {max_gap:g} s (max_gap)",
            UserWarning, stacklevel=2,
        )
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    background = BackgroundLoop("catapult-nb-replay")
    http = background.start(lambda: _open(url), _close)
    try:
        start = time.monotonic()
        show = len(payloads) > 200 if progress is None else progress
        for index, payload in enumerate(tqdm(payloads, desc="replaying", unit="event", disable=not show)):
            wait = waits[index]
            if wait is not None:
                _sleep_until(start + wait)
            rows.append(_send(background, http, url, method, payload, edit, timeout))
    finally:
        background.stop()
    frame = pd.DataFrame(rows, columns=list(REPLAY_COLUMNS))
    frame["status"] = frame["status"].astype("Int64")
    frame.attrs["url"] = _shown(url)
    frame.attrs["gaps_shortened"] = shortened
    return frame


# -- inputs ---------------------------------------------------------------------------------------------


def _check_url(url: Any) -> None:
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        port_ok = parts is not None and (parts.port is None or 0 < parts.port < 65536)
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(
            f"url must be an http(s) URL such as http://127.0.0.1:5000/catapult, got {_shown(str(url))!r}"
        )


def _is_positive(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _is_public(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host not in ("127.0.0.1", "localhost", "::1")


def _payloads(events: Any) -> tuple[list[dict[str, Any]], list[float | None]]:
    """The payloads to send, and when each was first received (epoch seconds) for ``pace="recorded"``."""
    if isinstance(events, pd.Series):
        events = events.to_frame().T
    moments: list[float | None]
    if isinstance(events, pd.DataFrame):
        if "payload" not in events.columns:
            raise ValueError(
                "events must have the store's 'payload' column (session.events, store.to_dataframe()), "
                "or be a list of payload dicts"
            )
        items = list(events["payload"])
        moments = _moments(events["received"]) if "received" in events.columns else [None] * len(items)
    elif isinstance(events, Mapping):
        items, moments = [events], [None]
    elif isinstance(events, Iterable) and not isinstance(events, (str, bytes)):
        items = list(events)
        moments = [None] * len(items)
    else:
        raise ValueError(f"events must be a DataFrame of stored events or a list of dicts, got {events!r}")
    payloads = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"event {position} is not a JSON object but {type(item).__name__}: {item!r:.80}")
        payloads.append(dict(item))
    if all(m is None for m in moments):
        moments = _moments(pd.Series([p.get("time") for p in payloads]))
    return payloads, moments


def _moments(values: pd.Series) -> list[float | None]:
    stamps = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return [None if pd.isna(s) else s.timestamp() for s in stamps]


def _schedule(moments: list[float | None], speed: float, max_gap: float) -> tuple[list[float | None], int]:
    """When to send each event (seconds after the first), with gaps over ``max_gap`` shortened to it.

    An event without a moment is sent as soon as the one before it; the number of shortened gaps is the
    second item.
    """
    waits: list[float | None] = []
    elapsed, last, shortened = 0.0, None, 0
    for moment in moments:
        if moment is None:
            waits.append(None)
            continue
        if last is not None:
            gap = max(0.0, moment - last) / speed
            if gap > max_gap:
                gap, shortened = max_gap, shortened + 1
            elapsed += gap
        last = moment
        waits.append(elapsed)
    return waits, shortened


def _edited(payload: dict[str, Any], edit: Edit) -> dict[str, Any]:
    if edit is None:
        return payload
    if isinstance(edit, Mapping):
        changed = {**payload, **edit}
        return {k: v for k, v in changed.items() if v is not None}
    result = edit(payload)
    result = payload if result is None else result
    if not isinstance(result, Mapping):
        raise TypeError(f"edit returned {type(result).__name__}, not a dict of fields")
    return dict(result)


# -- sending --------------------------------------------------------------------------------------------


async def _open(url: str) -> aiohttp.ClientSession:
    # a local app is never reached through a proxy from the environment
    return aiohttp.ClientSession(trust_env=_is_public(url), headers={"User-Agent": USER_AGENT})


async def _close(http: aiohttp.ClientSession) -> None:
    await http.close()


async def _request(
    http: aiohttp.ClientSession, url: str, method: str, payload: dict[str, Any], timeout: float
) -> tuple[int, str | None]:
    """The answer's status and reason; its body is never read (the status is all a row keeps)."""
    options: dict[str, Any] = {"allow_redirects": False, "timeout": aiohttp.ClientTimeout(total=timeout)}
    if method == "GET":
        options["params"] = {k: _query_value(v) for k, v in payload.items() if v is not None}
    else:
        options["data"] = json.dumps(payload, allow_nan=False).encode()
        options["headers"] = {"Content-Type": "application/json; charset=utf-8"}
    async with http.request(method, url, **options) as response:
        return response.status, response.reason


def _send(
    background: BackgroundLoop, http: aiohttp.ClientSession, url: str, method: str,
    original: dict[str, Any], edit: Edit, timeout: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "eventType": original.get("eventType"), "callId": original.get("callId"),
        "status": None, "elapsedMs": None, "error": None, "payload": None,
    }
    try:
        payload = _edited(dict(original), edit)
    except Exception as exc:  # the user's edit: its failure is this row's outcome, and nothing is sent
        row["error"] = f"edit raised {exc.__class__.__name__}: {exc}"
        return row
    row.update(eventType=payload.get("eventType"), callId=payload.get("callId"), payload=payload)
    started = time.perf_counter()
    try:
        status, reason = background.call(_request(http, url, method, payload, timeout))
        row["status"] = status
        if not 200 <= status < 300:
            row["error"] = f"answered HTTP {status} {reason or ''}".rstrip()
    except (asyncio.TimeoutError, TimeoutError):
        row["error"] = f"no answer within {timeout:g} s"
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error
        row["error"] = _scrub(f"could not connect: {os.strerror(cause.errno) if cause.errno else cause}", url)
    except aiohttp.ServerDisconnectedError:
        row["error"] = "the app closed the connection without answering"
    except aiohttp.ClientResponseError as exc:  # an answer that is not HTTP
        row["error"] = _scrub(f"the answer is not HTTP: {exc.message}", url)
    except (aiohttp.ClientError, ValueError, TypeError) as exc:  # a body that is not JSON, a bad header
        row["error"] = _scrub(f"{exc.__class__.__name__}: {exc}", url)
    row["elapsedMs"] = round((time.perf_counter() - started) * 1000, 2)
    return row


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # the recorded pace is the point here, not a wait for a condition


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's password or the receiver's secret path."""
    return redact(text, [url_password(url)])


def _shown(url: str) -> str:
    return _scrub(url, url)
