"""What a session hands out: calls, their gathers and results, and the virtual phone at their far end.

A :class:`Call` and a :class:`Gather` belong to a :class:`~catapult_nb.session.Session` and reach it only
through its public surface: ``client``, ``backend``, ``speed``, ``prompt_timing``, ``closed``, ``phone``,
and the methods made for them, :meth:`~catapult_nb.session.Session.call_by_id`,
:meth:`~catapult_nb.session.Session.record_gather`, :meth:`~catapult_nb.session.Session.to_dataframe`,
:meth:`~catapult_nb.session.Session.wait_for` and :attr:`~catapult_nb.session.Session.answer_timeout`.
Import them from :mod:`catapult_nb` or :mod:`catapult_nb.session.session`.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from catapult_nb.engine import GatherSpec
from catapult_nb.errors import Error
from catapult_nb.options import GatherOptions
from catapult_nb.prompts.timing import measure
from catapult_nb.redact import redact

if TYPE_CHECKING:
    from catapult_nb.client import CatapultClient
    from catapult_nb.session.session import Session
    from catapult_nb.simulator.phone import VirtualPhone
    from catapult_nb.store.records import RecordFrame

__all__ = ["SIMULATED_FROM", "Call", "Gather", "GatherResult", "Phone", "SessionError"]

#: The number simulated calls come from (any E.164 number works on the simulator).
SIMULATED_FROM = "+19195550100"


class SessionError(Error, RuntimeError):
    """Something about the session's set-up or a call's state stops the request; the message says what."""


def _seconds_or_none(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _call_id(call: Call | str) -> str:
    return call.id if isinstance(call, Call) else call


@dataclass(frozen=True)
class GatherResult:
    """How a gather ended, from its ``gather`` event."""

    reason: str  # a :class:`~catapult_nb.engine.Reason` value, as the event carried it
    digits: str  # what the caller typed, without the terminating digit
    time_to_first_key: float | None  # API seconds from the gather's start; needs suppress_dtmf=False
    duration: float | None  # API seconds from the gather's creation to its event
    gather_id: str
    call_id: str
    event: dict[str, Any] = field(repr=False)  # the raw callback payload

    def _why_no_first_key(self) -> str:
        """Why the time to the first key is unknown though keys were typed ("" when it is known)."""
        if self.time_to_first_key is not None or not self.digits:
            return ""
        return "unknown: only a gather with suppress_dtmf=False sends the per-key events that time it"

    def __repr__(self) -> str:
        why = self._why_no_first_key()
        first_key = f"None ({why})" if why else repr(self.time_to_first_key)
        return (f"GatherResult(reason={self.reason!r}, digits={self.digits!r}, "
                f"time_to_first_key={first_key}, duration={self.duration!r}, "
                f"gather_id={self.gather_id!r}, call_id={self.call_id!r})")

    def _repr_html_(self) -> str:
        why = self._why_no_first_key()
        ttfk = ("—" if self.time_to_first_key is None else f"{self.time_to_first_key:.2f} s") + (
            f" <small>({html.escape(why)})</small>" if why else "")
        duration = "—" if self.duration is None else f"{self.duration:.2f} s"
        return (
            "<div class='cnb-gather-result'><b>Gather result</b> "
            f"<code>{html.escape(self.gather_id)}</code><table>"
            f"<tr><td>reason</td><td><b>{html.escape(self.reason)}</b></td></tr>"
            f"<tr><td>digits</td><td><code>{html.escape(repr(self.digits))}</code></td></tr>"
            f"<tr><td>time to first key</td><td>{ttfk}</td></tr>"
            f"<tr><td>duration</td><td>{duration}</td></tr></table></div>"
        )


class Gather:
    """A gather running (or finished) on a call. Made by :meth:`Call.gather`."""

    def __init__(self, call: Call, gather_id: str, options: GatherOptions, created_time: str | None):
        self.call = call
        self.id = gather_id
        self.options = options
        self.created_time = created_time  # the API's clock, ISO-8601
        self._result: GatherResult | None = None

    @property
    def session(self) -> Session:
        return self.call.session

    def recorded_options(self) -> dict[str, Any]:
        """The options as the store keeps them (:meth:`Session.record_gather`): v1's wire dict."""
        return self.options.to_wire()

    def default_timeout(self) -> float:
        """Wall seconds within which the gather must end whatever the caller does, plus slack."""
        # measure: a file the simulator cannot fetch plays for 0 s there, so 0 s here too
        seconds = measure(self.options, self.session.prompt_timing).seconds
        spec = GatherSpec.from_options(self.options, seconds)
        api_seconds = spec.prompt_seconds + (spec.max_digits + 1) * spec.inter_digit_timeout
        if self.session.backend == "live":
            return max(60.0, api_seconds + 30.0)
        return api_seconds / self.session.speed + 10.0

    def wait(self, timeout: float | None = None) -> GatherResult:
        """Wait for the ``gather`` event and return how the gather ended.

        ``timeout`` is in wall seconds (default: long enough for the slowest caller the options
        allow). Raises ``TimeoutError`` with what to check when no event arrives in time.
        """
        if self._result is not None:
            return self._result
        stored = self.result if self.session.closed else None
        if stored is not None:  # stored before the session closed
            return stored
        event = self.session.wait_for(
            gather_id=self.id,
            event_type="gather",
            timeout=timeout or self.default_timeout(),
            about=f"the gather event of {self.id}",
        )
        self._result = self._result_of(event)
        return self._result

    @property
    def result(self) -> GatherResult | None:
        """The result if the gather event has arrived, else None (never waits)."""
        if self._result is None:
            frame = self.session.to_dataframe(gather_id=self.id, event_type="gather")
            if len(frame):
                self._result = self._result_of({"payload": frame["payload"].iloc[-1]})
        return self._result

    def _result_of(self, row: Mapping[str, Any]) -> GatherResult:
        from catapult_nb.analysis import gather_table

        event = dict(row["payload"]) if "payload" in row else dict(row)  # the callback as sent
        # Duration and time to first key exactly as the analysis table defines them, so the two agree.
        requested = pd.DataFrame(
            {"gatherId": [self.id], "callId": [self.call.id], "createdTime": [self.created_time]}
        )
        timing = gather_table(self.session.to_dataframe(call_id=self.call.id), requested).loc[self.id]
        return GatherResult(
            reason=str(event.get("reason", "")),
            digits=str(event.get("digits") or ""),
            time_to_first_key=_seconds_or_none(timing["timeToFirstKey"]),
            duration=_seconds_or_none(timing["duration"]),
            gather_id=self.id,
            call_id=self.call.id,
            event=event,
        )

    def stop(self) -> None:
        """Stop collecting digits (``POST …/gather/{id}`` with ``{"state": "completed"}``)."""
        self.session.client.stop_gather(self.call.id, self.id)

    def get(self) -> dict[str, Any]:
        """The gather as the API shows it now (state, digits, reason, …)."""
        client: CatapultClient = self.session.client  # a v1 gather: the session speaks v1
        return client.get_gather(self.call.id, self.id)

    def __repr__(self) -> str:
        state = self._result.reason if self._result else "waiting"
        return f"Gather({self.id!r}, call={self.call.id!r}, {state})"

    def _repr_html_(self) -> str:
        if self._result is not None:
            return self._result._repr_html_()
        body = html.escape(str(self.options.to_wire()))
        return (
            f"<div class='cnb-gather'><b>Gather</b> <code>{html.escape(self.id)}</code> on "
            f"<code>{html.escape(self.call.id)}</code>: waiting for the caller<br><small>{body}</small></div>"
        )


class Call:
    """A phone call placed (or received) through the session."""

    def __init__(self, session: Session, call_id: str, to: str, from_: str):
        self.session = session
        self.id = call_id
        self.to = to
        self.from_ = from_
        self.gathers: list[Gather] = []

    @property
    def state(self) -> str:
        """The call's state as the API shows it now: started, active, completed, rejected."""
        return str(self.session.client.get_call(self.id).get("state", "unknown"))

    def wait_answered(self, timeout: float | None = None) -> Call:
        """Wait until the far end answers; raise :class:`SessionError` if it is busy, rejects or
        never answers, ``TimeoutError`` if nothing is heard."""
        ending = {"answer", "hangup", "timeout"}
        event = self.session.wait_for(
            call_id=self.id,
            predicate=lambda e: e.get("eventType") in ending,
            timeout=timeout or self.session.answer_timeout,
            about=f"call {self.id} to be answered",
        )
        if event.get("eventType") != "answer":
            cause = event.get("cause") or event.get("eventType")
            raise SessionError(f"call {self.id} to {self.to} was not answered ({cause})")
        return self

    def gather(self, options: GatherOptions | dict[str, Any] | None = None, **kwargs: Any) -> Gather:
        """Start a gather on this call. Takes a :class:`GatherOptions`, the wire dict (the seed's
        body works verbatim), or ``GatherOptions``' keyword arguments."""
        opts = GatherOptions.coerce(options, **kwargs)
        client = self.session.client
        gather_id = client.create_gather(self.id, opts)
        created = client.get_gather(self.id, gather_id).get("createdTime")
        gather = Gather(self, gather_id, opts, created)
        self.gathers.append(gather)
        self.session.record_gather(gather)
        return gather

    def hang_up(self) -> None:
        """Hang up from the application's side."""
        self.session.client.hang_up(self.id)

    def answer(self) -> Call:
        """Answer this ringing inbound call (``{"state": "active"}``); returns the call."""
        self.session.client.answer_call(self.id)
        return self

    def speak(self, sentence: str, **fields: Any) -> None:
        """Speak ``sentence`` on the call; ``speak`` events ``started`` / ``done`` follow. ``fields``:
        ``voice``, ``gender``, ``locale``, ``tag``, ``loop_enabled``, ``volume``."""
        self.session.client.speak_sentence(self.id, sentence, **fields)

    def play(self, file_url: str, **fields: Any) -> None:
        """Play a WAV or MP3 file on the call; ``playback`` events ``started`` / ``done`` follow."""
        self.session.client.play_audio(self.id, file_url, **fields)

    def transfer(self, to: str, **fields: Any) -> Call:
        """Transfer the call to ``to``: the API dials it and bridges the two once it answers.

        Returns the new leg as a :class:`Call` (its events reach this session's handlers too).
        ``fields`` go to the request: ``transfer_caller_id``, ``whisper_audio``, ``callback_url``.
        """
        leg_id = self.session.client.transfer_call(self.id, to, **fields)
        return self.session.call_by_id(leg_id, to=to, from_=self.to)

    def wait_ready(self, timeout: float = 10.0, key: str | None = None) -> None:
        """Return once the call runs what was last asked of it: on v1 at once (each request acts as
        it is answered)."""

    def v1_view(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as a v1 callback (what flow runs read): on v1, the event itself."""
        return event

    def press(self, digits: str, gap: float = 0.25) -> None:
        """Press keys on the far end (simulated backend only)."""
        self.session.phone.press(self, digits, gap=gap)

    @property
    def events(self) -> pd.DataFrame:
        """This call's events, one row each (readable after the session is closed too)."""
        return self.session.to_dataframe(call_id=self.id)

    def __repr__(self) -> str:
        return f"Call({self.id!r}, to={self.to!r})"

    def _repr_html_(self) -> str:
        return (
            f"<div class='cnb-call'><b>Call</b> <code>{html.escape(self.id)}</code> "
            f"{html.escape(self.from_)} → {html.escape(self.to)}, {len(self.gathers)} gather(s)</div>"
        )


class Phone:
    """The far end of simulated calls: press keys, hang up, ring the application."""

    def __init__(self, base_url: str):
        from catapult_nb.simulator.phone import VirtualPhone

        self._phone = VirtualPhone(base_url)
        self._closed: str | None = None  # why, once its session is closed

    def closed(self, message: str) -> None:
        """Its session is closed: each later use raises :class:`SessionError` with ``message``."""
        self._closed = message

    def _open(self) -> VirtualPhone:
        if self._closed is not None:
            raise SessionError(self._closed)
        return self._phone

    def press(self, call: Call | str, digits: str, gap: float = 0.25) -> None:
        """Press ``digits`` on the call's far end, the first at once, the rest ``gap`` API seconds apart."""
        self._open().press(_call_id(call), digits, gap=gap)

    def hang_up(self, call: Call | str) -> None:
        """The far end hangs up (cause ``NORMAL_CLEARING``)."""
        self._open().hang_up(_call_id(call))

    def deliveries(self, call: Call | str | None = None) -> RecordFrame:
        """Every callback attempt the simulator made (of ``call``, or of every call), oldest first, one row
        each: ``time``, ``url``, ``method``, ``eventType``, ``callId``, ``attempt``, ``status``, ``error``,
        ``elapsedMs`` (as :meth:`Session.deliveries <catapult_nb.session.Session.deliveries>`)."""
        frame = self._open().deliveries(_call_id(call) if call is not None else None)
        frame.records_of = "session.phone.deliveries()"
        # the receiver's secret path is not for display
        frame["url"] = frame["url"].map(lambda url: redact(url) if url else url)
        return frame

    def prompts(self, call: Call | str) -> pd.DataFrame:
        """Every prompt the simulator measured on ``call``: what, how long, how it was timed, whether it
        was played and, if not, why (a file that could not be fetched or decoded)."""
        columns = ["time", "for", "kind", "sentence", "file", "seconds", "timing", "played", "reason",
                   "voice", "locale", "gender"]
        rows = self._open().call_info(_call_id(call))["prompts"]
        return pd.DataFrame(rows, columns=columns)

    def add_response_hook(self, hook: Callable[..., Any]) -> None:
        """Call ``hook(response)`` with each answer the simulator gives this phone (see
        :meth:`~catapult_nb.simulator.phone.VirtualPhone.add_response_hook`)."""
        self._phone.add_response_hook(hook)

    def incoming(self, from_: str, to: str, url: str) -> str:
        """Ring the application at ``url`` (an inbound call from ``from_`` to ``to``); returns the new
        call's id. ``session.phone.incoming("+15557654321", "+15550000000", session.callback_url)``."""
        return self._open().incoming(from_, to, url)

    def ring(self, callback_url: str, from_: str = "+15557654321", to: str = SIMULATED_FROM) -> str:
        """Deprecated: ``incoming(from_, to, url)``, the order every other inbound call takes."""
        message = "Phone.ring(url, from_, to) is now Phone.incoming(from_, to, url)"
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return self.incoming(from_, to, callback_url)

    def __repr__(self) -> str:
        return "Phone(simulated)"
