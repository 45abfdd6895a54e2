"""Record a session (the requests it made, the key presses, the callbacks it got) and run it again
against a fresh simulator, as a regression test::

    session.save_recording("code-entry.json")
    diff = Session.rerun_recording("code-entry.json")      # later, offline
    assert diff.same, diff

Every request the session's client and virtual phone send is recorded with when it was sent (API seconds
from the session's start) and how many callbacks had arrived by then. Playing back sends the same
requests in order, each once the callbacks that preceded it have arrived again and after the same gap, with
the new calls' and gathers' ids in place of the old ones and the new receiver's URL in place of the old
one. Reads (GET) are not sent again. The outcome is compared callback by callback, per call, and request by
request: each request sent again (a refused one too) must be answered with the status it was answered then.

The file is JSON: ``{"format": "catapult_nb-recording", "version": 1, ...}``. The receiver's secret URL is
never written (a placeholder stands for it), nor any URL's password.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import requests

from catapult_nb.errors import Error
from catapult_nb.redact import redact, url_password
from catapult_nb.simulator.clock import MAX_SPEED, MIN_SPEED, check_speed

if TYPE_CHECKING:
    from catapult_nb.session.session import Session
    from catapult_nb.simulator import Simulator

__all__ = ["FORMAT", "VERSION", "Recorder", "RecordingDiff", "RecordingError", "load", "play", "rerun"]

FORMAT = "catapult_nb-recording"
#: The newest recording format this version reads and writes.
VERSION = 1
#: What stands for the session's own callback URL in a recording.
CALLBACK_URL = "{callback_url}"
#: Requests and callbacks kept per session; a longer session keeps its first ones and says so.
MAX_ENTRIES = 100_000
#: Callback fields that make an outcome (ids and times differ from run to run by nature).
OUTCOME_FIELDS = ("reason", "digits", "state", "status", "cause", "dtmfDigit", "tag")
#: The latest moment of a request or callback, in API seconds from the session's start: v1 calls last
#: 4 hours at most, and a later moment would only make the playback wait.
MAX_SECONDS = 4 * 3600
_METHODS = "GET, POST, PUT, DELETE"
_ID = re.compile(r"\b(?:c|gtr)-[a-z2-7]{23}\b")
_USER_PATH = re.compile(r"^/v1/users/[^/]+")
_REQUEST_COLUMNS = ["n", "method", "path", "recorded", "replayed", "same"]


class RecordingError(Error, ValueError):
    """A recording file that cannot be played: the message names the file and what is wrong with it."""


class Recorder:
    """Keeps what one session does and gets, from the moment it opens.

    It listens to the responses of the session's client and virtual phone (``requests`` response hooks)
    and to the session's stored events; it never changes what they send.
    """

    def __init__(self, session: Session) -> None:
        self.label = session.label
        self.speed = session.speed
        self.backend = session.backend
        self.requests: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.truncated = False
        self._started = time.monotonic()
        self._lock = threading.Condition()
        self._callback_url = session.callback_url
        session.client.add_response_hook(self._on_response)
        if session.simulator is not None:  # the virtual phone's requests (key presses) are the caller's
            session.phone.add_response_hook(self._on_response)
        self._store = session.store
        self._store.add_listener(self._on_event)

    def detach(self) -> None:
        """Stop listening to the store (the session is closing)."""
        self._store.remove_listener(self._on_event)

    def now(self) -> float:
        """API seconds since the session opened."""
        return (time.monotonic() - self._started) * self.speed

    def wait_callbacks(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` callbacks have arrived; False if ``timeout`` wall seconds pass first."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.callbacks) >= count, timeout)

    def _on_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        parts = urlsplit(request.url)
        sent = self.now() - response.elapsed.total_seconds() * self.speed
        body = None
        if request.body:
            with contextlib.suppress(ValueError, TypeError):
                body = json.loads(request.body)
        created = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1] or None
        if created is None and parts.path.endswith("/_sim/incoming"):
            with contextlib.suppress(ValueError, AttributeError):
                created = response.json().get("callId")
        entry = {
            "t": round(sent, 4),
            "method": request.method,
            "path": _USER_PATH.sub("", parts.path),
            "query": dict(parse_qsl(parts.query)),
            "body": self._scrubbed(body),
            "status": response.status_code,
            "created": created,
        }
        with self._lock:
            entry["after"] = sum(1 for c in self.callbacks if c["t"] <= sent)
            self._keep(self.requests, entry)

    def _on_event(self, row: dict[str, Any]) -> None:
        if row.get("session") != self.label:
            return
        payload = row.get("payload")
        entry = {"t": round(self.now(), 4), "payload": dict(payload) if payload is not None else {}}
        with self._lock:
            self._keep(self.callbacks, entry)
            self._lock.notify_all()

    def _keep(self, entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        if len(entries) < MAX_ENTRIES:
            entries.append(entry)
        else:
            self.truncated = True

    def _scrubbed(self, value: Any) -> Any:
        """The session's callback URL as a placeholder, other URLs without their password."""

        def scrub(text: str) -> str:
            if not text.startswith(("http://", "https://")):
                return text
            return CALLBACK_URL if text == self._callback_url else redact(text, [url_password(text)])

        return _each_string(value, scrub)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "format": FORMAT,
                "version": VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "backend": self.backend,
                "speed": self.speed,
                "truncated": self.truncated,
                "requests": list(self.requests),
                "callbacks": list(self.callbacks),
            }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the recording to ``path`` (replaced whole, never half-written); returns the path."""
        target = Path(path)
        text = json.dumps(self.to_dict(), indent=1, default=str)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        return target


# --------------------------------------------------------------------------------------------------
# Reading


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A recording's content, checked.

    :raises RecordingError: the file is missing, truncated, not a recording, from a newer version, or
        lacks a part; the message names the file.
    """
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(f"{name}: no such recording file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{name}: cannot be read as a recording ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        end = text.rstrip()
        if end.startswith(("{", "[")) and not end.endswith(("}", "]")):  # a recording is one JSON object
            lines = end.count("\n") + 1
            raise RecordingError(
                f"{name}: the recording is truncated (its JSON stops short after line {lines}); "
                "save it again with session.save_recording()"
            ) from None
        raise RecordingError(
            f"{name}: not a recording: bad JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(f"{name}: not a catapult_nb recording (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"{name}: the recording's version is {version!r}, not a whole number from 1")
    if version > VERSION:
        raise RecordingError(
            f"{name}: written by a newer catapult_nb (recording format {version}); this one reads format "
            f"{VERSION}: upgrade catapult_nb to play it"
        )
    for part in ("requests", "callbacks"):
        if not isinstance(data.get(part), list):
            raise RecordingError(f"{name}: the recording has no list of {part}")
    try:
        check_speed(data.get("speed"))
    except ValueError:
        raise RecordingError(
            f"{name}: the recording's speed is {data.get('speed')!r}, not a number from {MIN_SPEED:g} to "
            f"{MAX_SPEED:,.0f}"
        ) from None
    try:
        _check_entries(data)
    except ValueError as exc:
        raise RecordingError(f"{name}: {exc}; the file was changed since it was saved") from None
    return data


def _check_entries(data: dict[str, Any]) -> None:
    """Each request and callback has the fields playback reads, of the right kind and within bounds.

    :raises ValueError: naming the first entry that does not (``requests[3]: t is …``).
    """
    callbacks = data["callbacks"]
    for index, entry in enumerate(callbacks):
        where = f"callbacks[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a JSON object")
        _check_moment(where, entry.get("t"))
        if not isinstance(entry.get("payload"), dict):
            raise ValueError(f"{where}: payload is {_shown(entry.get('payload'))}, not a JSON object")
    for index, entry in enumerate(data["requests"]):
        where = f"requests[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a JSON object")
        _check_moment(where, entry.get("t"))
        if entry.get("method") not in _METHODS.split(", "):
            raise ValueError(f"{where}: method is {_shown(entry.get('method'))}, not one of {_METHODS}")
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{where}: path is {_shown(path)}, not a path from / (\"/calls\")")
        query = entry.get("query")
        if query is not None and not (
            isinstance(query, dict) and all(isinstance(v, str) for v in query.values())
        ):
            raise ValueError(f"{where}: query is {_shown(query)}, not an object of texts")
        after = entry.get("after", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"{where}: after is {_shown(after)}, not a whole number from 0")
        if after > len(callbacks):
            raise ValueError(f"{where}: after is {after}, but the recording has {len(callbacks)} callbacks")
        created = entry.get("created")
        if created is not None and not isinstance(created, str):
            raise ValueError(f"{where}: created is {_shown(created)}, not an id")


def _check_moment(where: str, value: Any) -> None:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{where}: t is {_shown(value)}, not a number of API seconds")
    if not 0 <= number <= MAX_SECONDS:
        raise ValueError(
            f"{where}: t is {_shown(value)}, not a number of API seconds from 0 to {MAX_SECONDS:,} (a "
            "recording is of one session, of calls that last 4 hours at most)"
        )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------------
# Playing


def rerun(
    path: str | os.PathLike[str],
    *,
    open_session: Callable[..., Session],
    speed: float | None = None,
    timeout: float = 30.0,
) -> RecordingDiff:
    """Run a recording again against a fresh simulator and compare the callbacks and the answers to the
    requests with the recorded ones.

    :meth:`Session.rerun_recording <catapult_nb.session.Session.rerun_recording>` is the way in; the
    session stands on this module, so it hands over how to open the fresh simulated session.
    :param open_session: ``Session.simulated`` or a function like it (``speed=``, ``store=``).
    :param speed: the new simulator's speed (default: the recording's).
    :param timeout: wall seconds to wait, at most, for each step's callbacks and for the last ones.
    :returns: a :class:`RecordingDiff`.
    :raises RecordingError: the file cannot be played (see :func:`load`).
    """
    data = load(path)
    speed = float(speed or data["speed"])
    with open_session(speed=speed, store=":memory:") as session, requests.Session() as http:
        simulator = _simulator(session)
        # the recorded requests go out as recorded, with the fresh simulator's credentials
        http.auth = (simulator.api_token, simulator.api_secret)
        http.trust_env = False  # the simulator is on this machine: no proxy from the environment
        recorder = session.recorder
        ids: dict[str, str] = {}
        answered: dict[int, int] = {}  # the status of each request sent again, by its place in the recording
        previous = 0.0
        for index, request in enumerate(data["requests"]):
            if request.get("method") == "GET":
                continue
            after = int(request.get("after") or 0)
            recorder.wait_callbacks(after, timeout)
            trigger = data["callbacks"][after - 1]["t"] if 0 < after <= len(data["callbacks"]) else 0.0
            gap = float(request.get("t", 0.0)) - max(previous, trigger)
            if gap > 0:
                time.sleep(gap / speed)  # the recorded pace between the caller's and the app's actions
            previous = float(request.get("t", 0.0))
            answered[index] = _send(session, http, request, ids)
        recorder.wait_callbacks(len(data["callbacks"]), timeout)
        simulator.wait_idle(timeout)
        replayed = [c["payload"] for c in recorder.to_dict()["callbacks"]]
    recorded = [c.get("payload", {}) for c in data["callbacks"]]
    sent = [(r, answered.get(index)) for index, r in enumerate(data["requests"]) if r.get("method") != "GET"]
    return RecordingDiff.compare(os.fspath(path), recorded, replayed, ids, sent)


def _simulator(session: Session) -> Simulator:
    if session.simulator is None:  # Session.simulated() always has one
        raise RecordingError("a recording plays on the simulated backend only")
    return session.simulator


def _send(session: Session, http: requests.Session, request: dict[str, Any], ids: dict[str, str]) -> int:
    """Send a recorded request again, noting the ids it creates; returns the status it was answered with."""
    path = _ID.sub(lambda m: ids.get(m.group(0), m.group(0)), str(request.get("path", "")))
    body = _substituted(request.get("body"), ids, session.callback_url)
    if path.startswith("/_sim/"):
        url = _simulator(session).base_url + path
    else:
        url = f"{session.client.api_url}/users/{session.client.user_id}{path}"
    response = http.request(
        str(request.get("method", "POST")), url, json=body, params=request.get("query") or None, timeout=10
    )
    created = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1] or None
    if created is None and path == "/_sim/incoming":
        with contextlib.suppress(ValueError, AttributeError):
            created = response.json().get("callId")
    if request.get("created") and created:
        ids[str(request["created"])] = created
    return response.status_code


def _substituted(value: Any, ids: dict[str, str], callback_url: str) -> Any:
    """The recorded body for this playback: the placeholder as this session's callback URL, and the
    recording's ids as the ones this playback was given."""

    def substitute(text: str) -> str:
        if text == CALLBACK_URL:
            return callback_url
        return _ID.sub(lambda m: ids.get(m.group(0), m.group(0)), text)

    return _each_string(value, substitute)


def _each_string(value: Any, change: Callable[[str], str]) -> Any:
    """A JSON value with ``change`` applied to every string in it (keys left as they are)."""
    if isinstance(value, dict):
        return {k: _each_string(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_string(v, change) for v in value]
    return change(value) if isinstance(value, str) else value


# --------------------------------------------------------------------------------------------------
# Comparing


def outcome(payload: dict[str, Any]) -> str:
    """``gather reason=max-digits digits='12345'``: a callback without what differs between runs."""
    fields = " ".join(f"{k}={payload[k]!r}" for k in OUTCOME_FIELDS if payload.get(k) not in (None, ""))
    digits = " digits=''" if payload.get("eventType") == "gather" and payload.get("digits") == "" else ""
    return f"{payload.get('eventType')}" + (f" {fields}" if fields else "") + digits


@dataclass
class RecordingDiff:
    """The recorded and the replayed callbacks side by side, call by call (calls numbered in order), and
    the statuses each request sent again was answered with then and now (``requests``)."""

    path: str
    frame: pd.DataFrame  # call, n, recorded, replayed, same
    #: n, method, path (as recorded), recorded and replayed status (None: not sent again), same
    requests: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=_REQUEST_COLUMNS, dtype=object))

    @classmethod
    def compare(
        cls, path: str, recorded: list[dict[str, Any]], replayed: list[dict[str, Any]], ids: dict[str, str],
        sent: list[tuple[dict[str, Any], int | None]] | None = None,
    ) -> RecordingDiff:
        old_calls = _by_call(recorded)
        new_calls = _by_call(replayed)
        rows = []
        for number, (old_id, old_events) in enumerate(old_calls.items(), 1):
            new_events = new_calls.pop(ids.get(old_id, ""), [])
            for n in range(max(len(old_events), len(new_events))):
                old = outcome(old_events[n]) if n < len(old_events) else None
                new = outcome(new_events[n]) if n < len(new_events) else None
                rows.append({"call": f"call {number}", "n": n + 1, "recorded": old, "replayed": new,
                             "same": old == new})
        for number, new_events in enumerate(new_calls.values(), len(old_calls) + 1):
            for n, event in enumerate(new_events):
                rows.append({"call": f"call {number} (new)", "n": n + 1, "recorded": None,
                             "replayed": outcome(event), "same": False})
        frame = pd.DataFrame(rows, columns=["call", "n", "recorded", "replayed", "same"])
        answers = pd.DataFrame(
            [{"n": n, "method": r.get("method"), "path": r.get("path"), "recorded": r.get("status"),
              "replayed": status, "same": r.get("status") == status}
             for n, (r, status) in enumerate(sent or [], 1)],
            columns=_REQUEST_COLUMNS, dtype=object,  # a request not sent again has no status: None, not NaN
        )
        answers["same"] = answers["same"].astype(bool)
        return cls(path, frame, answers)

    @property
    def same(self) -> bool:
        """True when every callback came back the same and every request was answered as it was."""
        return bool(self.frame["same"].all()) and bool(self.requests["same"].all())

    @property
    def differences(self) -> pd.DataFrame:
        return self.frame[~self.frame["same"]]

    def __repr__(self) -> str:
        total = len(self.frame)
        if self.same:
            return f"RecordingDiff({self.path!r}: {total} callbacks, all the same)"
        if self.frame["same"].all():
            first = self.requests[~self.requests["same"]].iloc[0]
            return (
                f"RecordingDiff({self.path!r}: {total} callbacks the same, but request #{first['n']} "
                f"({first['method']} {first['path']}) was answered {first['recorded']} when recorded and "
                f"{'not sent' if first['replayed'] is None else first['replayed']} now)"
            )
        first = self.differences.iloc[0]
        return (
            f"RecordingDiff({self.path!r}: {len(self.differences)} of {total} callbacks differ; first: "
            f"{first['call']} #{first['n']}: recorded {first['recorded']}, replayed {first['replayed']})"
        )

    def _repr_html_(self) -> str:
        rows = []
        for row in self.frame.itertuples():
            style = "" if row.same else " style='background:#ffebe9'"
            cells = [row.call, str(row.n), row.recorded or "—", row.replayed or "—", "✔" if row.same else "✘"]
            rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        verdict = "all the same" if self.same else f"{len(self.differences)} differ"
        return (
            f"<div><b>Recording replayed</b> <code>{html.escape(self.path)}</code>: {len(self.frame)} "
            f"callbacks, {verdict}<table><tr><th>call</th><th>#</th><th>recorded</th><th>replayed</th>"
            f"<th></th></tr>{''.join(rows)}</table></div>"
        )


def _by_call(payloads: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    calls: dict[str, list[dict[str, Any]]] = {}
    for payload in payloads:
        calls.setdefault(str(payload.get("callId")), []).append(payload)
    return calls


def play(path: str | os.PathLike[str], **kwargs: Any) -> RecordingDiff:
    """Deprecated: :func:`rerun` ("replay" names sending stored callbacks again)."""
    warnings.warn("session.recording.play() is now rerun() (Session.rerun_recording())", DeprecationWarning,
                  stacklevel=2)
    return rerun(path, **kwargs)
