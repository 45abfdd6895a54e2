"""A session on Bandwidth's Voice API v2: calls driven by the BXML the receiver answers webhooks with.

    >>> with Session.simulated(speed=10, api="v2") as session:           # doctest: +SKIP
    ...     call = session.call("+15551234567")
    ...     gather = call.gather(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
    ...                          sentence="Please enter your 5 digit code")
    ...     session.phone.press(call, "25")
    ...     gather.wait()
    V2GatherResult(digits='25', terminating_digit='', reason='inter-digit-timeout' (derived), ...)

On v2 the app says what a call does by answering its webhooks (``answer``, ``gather``, ``redirect``,
``initiate``, ``transferAnswer``, ``transferComplete``) with BXML. The session's receiver stores each
webhook, then answers it with, in this order:

1. the document the notebook queued for it: ``session.call(to, bxml=…)`` for the ``answer`` webhook,
   and ``call.gather(…)``, ``call.speak(…)``, ``call.play(…)``, ``call.send(bxml)``, which queue a
   document and redirect the call (``POST …/calls/{callId}`` with ``redirectUrl``) to fetch it;
2. what the session's handlers for that event return (``session.on("gather", handler)``): a string,
   the SDK's BXML objects (anything with ``to_bxml()``) or a ``Migration``; handlers that all return
   nothing answer ``<Response/>``, which ends the call;
3. for a call the notebook drives (placed without ``bxml``), a pause and a redirect back here, so the
   call stays up until the next ``call.gather(…)``, as a v1 call does.

A v1 gather becomes v2's ``<Gather>`` by :func:`catapult_nb.gather_port.gather` (the port that keeps
behaviour, the one :func:`catapult_nb.migrate.gather` and ``Flow.to_bxml`` use); its result gives v2's
``digits`` and ``terminatingDigit`` and the v1 ``reason`` derived by
:func:`catapult_nb.migrate.v1_reason`.
"""

from __future__ import annotations

import dataclasses
import html
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

from catapult_nb.gather_port import Migration, v1_reason
from catapult_nb.gather_port import gather as kept_port
from catapult_nb.gather_port import naive as naive_port
from catapult_nb.options import GatherOptions
from catapult_nb.redact import redact_url
from catapult_nb.session.calls import Call, Gather, GatherResult, SessionError
from catapult_nb.simulator.clock import iso_time
from catapult_nb.simulator.v2_webhooks import ANSWERED_WITH_BXML
from catapult_nb.store.bxml import gathers_in

if TYPE_CHECKING:
    from catapult_nb.session.session import Session
    from catapult_nb.session.v2_client import V2Client

__all__ = ["EMPTY_RESPONSE", "PARK_SECONDS", "BxmlAnswers", "V2Call", "V2Gather", "V2GatherResult", "to_bxml"]

#: The answer that ends a call: no verbs.
EMPTY_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
#: How long (API seconds) a call the notebook drives waits in a ``<Pause>`` before asking again.
PARK_SECONDS = 300
#: The query parameter that names what a webhook URL of the session is for.
_KEY = "cnb"


def to_bxml(answer: Any) -> str | None:
    """A handler's answer as BXML text: a string, bytes, the SDK's BXML objects (``to_bxml()``), a
    ``Migration`` or ``FlowMigration`` document (``.bxml``); None for None.

    :raises TypeError: anything else (the message says what a handler may return).
    """
    if answer is None or isinstance(answer, str):
        return answer
    if isinstance(answer, bytes):
        return answer.decode("utf-8")
    if callable(getattr(answer, "to_bxml", None)):
        return str(answer.to_bxml())
    if isinstance(getattr(answer, "bxml", None), str):
        return str(answer.bxml)
    raise TypeError(f"a v2 handler returns the BXML to answer with (a string, the SDK's Response/Bxml, a "
                    f"Migration) or None, got {type(answer).__name__}")


@dataclass(frozen=True)
class V2GatherResult(GatherResult):
    """How a v2 gather ended, from its ``gather`` webhook.

    ``digits`` and ``terminating_digit`` are v2's; v2 sends no reason, so ``reason`` is v1's, derived by
    :func:`catapult_nb.migrate.v1_reason` (``hung-up`` when the call ended instead).
    """

    terminating_digit: str = ""

    def __repr__(self) -> str:
        return (f"V2GatherResult(digits={self.digits!r}, terminating_digit={self.terminating_digit!r}, "
                f"reason={self.reason!r} (derived), duration={self.duration}, gather_id={self.gather_id!r})")

    def _repr_html_(self) -> str:
        duration = "—" if self.duration is None else f"{self.duration:.2f} s"
        return (
            "<div class='cnb-gather-result'><b>Gather result (v2)</b> "
            f"<code>{html.escape(self.gather_id)}</code><table>"
            f"<tr><td>digits</td><td><code>{html.escape(repr(self.digits))}</code></td></tr>"
            f"<tr><td>terminatingDigit</td><td><code>{html.escape(repr(self.terminating_digit))}</code></td></tr>"
            f"<tr><td>reason</td><td><b>{html.escape(self.reason)}</b> <small>(derived by "
            "migrate.v1_reason: v2 sends none)</small></td></tr>"
            f"<tr><td>duration</td><td>{duration}</td></tr></table></div>"
        )


class V2Gather(Gather):
    """A ``<Gather>`` running on a v2 call. Made by :meth:`V2Call.gather`; its ``id`` is its ``tag``."""

    def __init__(self, call: V2Call, gather_id: str, options: GatherOptions, migration: Migration) -> None:
        super().__init__(call, gather_id, options, None)
        self.migration = migration

    @property
    def bxml(self) -> str:
        """The document the call fetched."""
        return self.migration.bxml

    def recorded_options(self) -> dict[str, Any]:
        """The ``<Gather>`` as the store keeps a served one (``EventStore.record_bxml``), so the gather
        table reads this gather's webhook with its options; the receiver's secret path masked."""
        options = gathers_in(self.migration.bxml)[0]
        if options.get("gatherUrl"):
            options["gatherUrl"] = redact_url(str(options["gatherUrl"]))
        return options

    def wait(self, timeout: float | None = None) -> V2GatherResult:
        """Wait for the ``gather`` webhook (or the call's ``disconnect``) and return how it ended.

        :raises TimeoutError: no webhook in ``timeout`` wall seconds (default: the slowest caller's time).
        """
        if self._result is not None:
            return self._result  # type: ignore[return-value]
        event = self.session.wait_for(
            call_id=self.call.id, predicate=self._ends, timeout=timeout or self.default_timeout(),
            about=f"the gather webhook of {self.id}",
        )
        self._result = self._result_of(event)
        return self._result

    @property
    def result(self) -> V2GatherResult | None:
        if self._result is None:
            frame = self.session.to_dataframe(call_id=self.call.id)
            ends = [p for p in frame["payload"] if self._ends(p)] if len(frame) else []
            if ends:
                self._result = self._result_of({"payload": ends[0]})
        return self._result  # type: ignore[return-value]

    def _ends(self, event: dict[str, Any]) -> bool:
        payload = event.get("payload", event)
        kind = payload.get("eventType")
        return bool((kind == "gather" and payload.get("tag") == self.id) or kind == "disconnect")

    def _result_of(self, row: Any) -> V2GatherResult:
        event = dict(row["payload"]) if "payload" in row else dict(row)
        started = getattr(self.call, "fetched_at", {}).get(self.id)
        ended = pd.Timestamp(event["eventTime"]) if event.get("eventTime") else None
        duration = (ended - started).total_seconds() if ended is not None and started is not None else None
        return V2GatherResult(
            reason=v1_reason(event, self.migration).value, digits=str(event.get("digits") or ""),
            time_to_first_key=None, duration=duration, gather_id=self.id, call_id=self.call.id, event=event,
            terminating_digit=str(event.get("terminatingDigit") or ""),
        )

    def stop(self) -> None:
        """Stop the gather: the call is redirected to wait for the next document (no gather webhook)."""
        self.call.park()  # type: ignore[attr-defined]

    def get(self) -> dict[str, Any]:
        """The call as the v2 API shows it (v2 has no gather resource)."""
        client: V2Client = self.session.client
        return client.get_call(self.call.id)


class V2Call(Call):
    """A call on the v2 API. Its verbs are BXML documents fetched through the session's receiver."""

    def __init__(self, session: Session, call_id: str, to: str, from_: str) -> None:
        super().__init__(session, call_id, to, from_)
        self.fetched_at: dict[str, pd.Timestamp] = {}  # a document's key → when the call fetched it
        self._prompts: dict[str, str] = {}  # a prompt's tag → "speak" or "playback", for v1_view
        self._pending: str | None = None  # the key of the last document sent, if its text shows it

    @property
    def state(self) -> str:
        """v2's state: ``initiated``, ``answered`` or ``disconnected``."""
        return str(self.session.client.get_call(self.id).get("state", "unknown"))

    def wait_answered(self, timeout: float | None = None) -> V2Call:
        """Wait for the ``answer`` webhook.

        :raises SessionError: the call ended first (``disconnect`` with its ``cause`` and ``errorMessage``).
        """
        event = self.session.wait_for(
            call_id=self.id, predicate=lambda e: e.get("eventType") in ("answer", "disconnect"),
            timeout=timeout or self.session.answer_timeout, about=f"call {self.id} to be answered",
        )
        if event.get("eventType") != "answer":
            payload = event.get("payload") or {}
            detail = f": {payload['errorMessage']}" if payload.get("errorMessage") else ""
            cause = payload.get("cause")
            raise SessionError(f"call {self.id} to {self.to} was not answered ({cause}){detail}")
        return self

    def gather(self, options: GatherOptions | dict[str, Any] | None = None, *, port: str = "kept",
               **kwargs: Any) -> V2Gather:
        """Run a ``<Gather>`` now: the v1 ``options`` (a :class:`GatherOptions`, the wire dict or its
        keyword arguments) ported by :func:`catapult_nb.migrate.gather` (``port="naive"``: v2's defaults
        for what is not set), or a :class:`~catapult_nb.migrate.Migration` as it is. Returns once the
        call's webhook has been answered with the document; the call runs it when the answer reaches it,
        a network hop later (longer through a tunnel), and a key pressed before that is lost, as on a
        real line.
        """
        gather_id = f"gtr-v2-{secrets.token_hex(6)}"
        url = self.session.answers.url(gather_id)  # type: ignore[union-attr]
        if isinstance(options, Migration):
            migration = Migration(options.options, {**options.attributes, "gatherUrl": url, "tag": gather_id},
                                  options.kept, options.differences, options.notes)
        else:
            opts = dataclasses.replace(GatherOptions.coerce(options, **kwargs), tag=gather_id)
            if port not in ("kept", "naive"):
                raise ValueError(f"port must be 'kept' (the port that keeps v1's behaviour) or 'naive', "
                                 f"got {port!r}")
            migration = (kept_port if port == "kept" else naive_port)(opts, gather_url=url)
        gather = V2Gather(self, gather_id, migration.options, migration)
        self.gathers.append(gather)
        self.send(migration.bxml, key=gather_id)
        served = self.fetched_at.get(gather_id)  # the served time: what the gather table matches on
        gather.created_time = iso_time(served) if served is not None else None
        self.session.record_gather(gather)
        return gather

    def speak(self, sentence: str, *, tag: str | None = None, **fields: Any) -> None:
        """Speak ``sentence`` (``voice``, ``gender``, ``locale``), then wait for the next document: a
        ``redirect`` webhook follows the sentence (with ``tag``, it carries it, and :meth:`v1_view` reads
        it as v1's ``speak`` ``done``)."""
        speech = "".join(f" {k}={quoteattr(str(v).lower())}" for k, v in fields.items()
                         if k in ("voice", "gender", "locale") and v)
        self._prompt("speak", f"<SpeakSentence{speech}>{escape(sentence)}</SpeakSentence>", tag)

    def play(self, file_url: str, *, tag: str | None = None, **fields: Any) -> None:
        """Play a WAV or MP3 file, then wait for the next document (``tag``: as for :meth:`speak`)."""
        self._prompt("playback", f"<PlayAudio>{escape(file_url)}</PlayAudio>", tag)

    def _prompt(self, kind: str, verb: str, tag: str | None) -> None:
        head = ""
        if tag is not None:
            self._prompts[tag] = kind
            head = f"<Tag>{escape(tag)}</Tag>"
        # the redirect right after the prompt says it ended (v1's "done"); its answer is what comes next
        url = escape(self.session.answers.url("prompt-done"), {'"': "&quot;"})  # type: ignore[union-attr]
        self.send(f'<Response>{head}{verb}<Redirect redirectUrl="{url}"/></Response>')

    def v1_view(self, event: dict[str, Any]) -> dict[str, Any]:
        """A v2 webhook as the v1 callback a flow run waits for: ``gather`` with ``gatherId`` (its tag)
        and the derived ``reason``; the ``redirect`` after a tagged prompt as ``speak``/``playback``
        ``done``; ``disconnect`` as ``hangup``. Others keep their v2 names."""
        kind, time_ = event.get("eventType"), event.get("eventTime")
        tag = event.get("tag")
        if kind == "gather":
            gather = next((g for g in self.gathers if g.id == tag), None)
            migration = gather.migration if isinstance(gather, V2Gather) else None
            return {"eventType": "gather", "gatherId": tag, "digits": event.get("digits") or "",
                    "reason": v1_reason(event, migration).value, "time": time_, "callId": self.id}
        if kind == "redirect" and tag in self._prompts:
            return {"eventType": self._prompts.pop(str(tag)), "status": "done", "tag": tag, "time": time_,
                    "callId": self.id}
        if kind == "disconnect":
            return {"eventType": "hangup", "cause": event.get("cause"), "time": time_, "callId": self.id}
        return {**event, "time": time_}

    def hang_up(self) -> None:
        """End the call (``{"state": "completed"}``)."""
        self.session.client.hang_up(self.id)

    def answer(self) -> V2Call:
        """An inbound v2 call is answered by the document its ``initiate`` webhook returns: nothing to do."""
        return self

    def transfer(self, to: str, **fields: Any) -> V2Call:
        """Transfer the call to ``to`` (``<Transfer><PhoneNumber>``); returns this call (v2 names the new
        leg in its ``transferAnswer`` webhook)."""
        self.send(f"<Response><Transfer><PhoneNumber>{escape(to)}</PhoneNumber></Transfer></Response>")
        return self

    def park(self) -> None:
        """Wait (a pause and a redirect back, again and again) for the next document."""
        self.send(f"<Response>{self._park()}</Response>")

    def send(self, bxml: Any, *, key: str | None = None, timeout: float = 10.0) -> None:
        """Run ``bxml`` on the call now, then return once the call has it (on the simulator: once it runs,
        so keys pressed afterwards count).

        From a handler answering one of this call's webhooks, the document is that webhook's answer;
        otherwise it is queued and the call redirected (``POST …/calls/{callId}`` with ``redirectUrl``)
        to fetch it.

        :param bxml: a ``<Response>`` document (text, the SDK's objects, a Migration).
        :param key: names the document in its URL (a gather's id).
        :raises TimeoutError: the call did not fetch it within ``timeout`` wall seconds.
        """
        answers = self.session.answers
        assert answers is not None
        key = key or f"doc-{secrets.token_hex(6)}"
        text = str(to_bxml(bxml))
        self._pending = key if key in text else None  # a document the simulator shows can be awaited
        if answers.answer_in_place(self, key, text):
            return  # sent when the handler is done: wait_ready() waits for it
        answers.queue(key, text, call=self)
        self.session.client.update_call(self.id, state="active", redirectUrl=answers.url(key))
        self.wait_ready(timeout, key)

    def wait_ready(self, timeout: float = 10.0, key: str | None = None) -> None:
        """Wait until the call runs the last document sent (a flow run's ``wait_step`` uses it).

        :raises TimeoutError: the call did not fetch it within ``timeout`` wall seconds.
        """
        answers = self.session.answers
        key = key or self._pending
        if answers is None or key is None:
            return
        if not answers.sent(key).wait(timeout):
            raise TimeoutError(f"call {self.id} did not fetch its next document within {timeout:g} s; is it "
                               "still up? see call.state and session.deliveries()")
        if self.session.simulator is not None:  # it runs on the simulator's loop: see it there
            shown = key == self._pending  # else (the first document, a prompt): one was fetched
            deadline = time.monotonic() + timeout
            while True:
                documents = self.session.phone._phone.call_info(self.id).get("documents") or []
                if (key in str(documents)) if shown else documents:
                    break
                if time.monotonic() > deadline or self.session.closed:
                    break
                time.sleep(0.005)

    def _park(self) -> str:
        return self.session.answers.park()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"V2Call({self.id!r}, to={self.to!r})"


def check_api(api: str) -> str:
    """``api`` if it is ``"v1"`` or ``"v2"``.

    :raises ValueError: anything else.
    """
    if api not in ("v1", "v2"):
        raise ValueError(f"api must be 'v1' (Catapult) or 'v2' (Bandwidth's Voice API v2), got {api!r}")
    return api


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def place_v2(session: Session, to: str, bxml: Any, flow: Any, fields: dict[str, Any]) -> tuple[str, str]:
    """Place a v2 call for :meth:`Session.call`: its ``answer`` webhook gets ``bxml``, else (a call the
    notebook or a flow drives) a pause until the first document. ``fields`` are CreateCall's, in v2's
    names or snake_case (``call_timeout``). Returns the call id and the key of its first document."""
    answers = session.answers
    assert answers is not None
    key = f"answer-{secrets.token_hex(6)}"
    driven = bxml is None
    if driven:  # a handler's answer comes first; else a pause until the notebook's first document
        answers.queue(key, f"<Response>{answers.park()}</Response>", fallback=True)
    else:
        answers.queue(key, str(to_bxml(bxml)))
    body = {_camel(k): v for k, v in fields.items()}
    body.setdefault("disconnectUrl", answers.url("disconnect"))
    created = session.client.create_call(to=to, from_=session.from_number, answer_url=answers.url(key),
                                         **body)
    call_id = str(created["callId"])
    if driven:
        answers.driven.add(call_id)
    return call_id, key


class BxmlAnswers:
    """What a v2 session's receiver answers each webhook with (see the module's docstring).

    :param session: the session whose receiver, handlers and calls it uses.
    """

    def __init__(self, session: Session) -> None:
        self._session = weakref.ref(session)  # the receiver holds this object; the session may still go
        self._lock = threading.Lock()
        self._queued: dict[str, tuple[str, V2Call | None, bool]] = {}
        self._sent: dict[str, threading.Event] = {}  # set once the document went out in an answer
        self._local = threading.local()  # the webhook being answered on this thread, if any
        self.driven: set[str] = set()  # calls the notebook drives: parked between its documents
        self.answered = 0

    def url(self, key: str) -> str:
        """The receiver's URL for the document queued as ``key`` (secret: do not print)."""
        session = self._session()
        if session is None:
            raise SessionError("the session is closed: open a new one")
        base = session.callback_url
        return f"{base}{'&' if '?' in base else '?'}{_KEY}={key}"

    def park(self) -> str:
        """The verbs that keep a call up until the notebook sends its next document."""
        url = escape(self.url("park"), {'"': "&quot;"})
        return f'<Pause duration="{PARK_SECONDS}"/><Redirect redirectUrl="{url}"/>'

    def queue(self, key: str, bxml: str, call: V2Call | None = None, fallback: bool = False) -> None:
        """Keep ``bxml`` for the webhook that comes to :meth:`url` ``(key)`` (:meth:`sent` tells when);
        ``fallback``: only if no handler answers it."""
        with self._lock:
            self._queued[key] = (bxml, call, fallback)
            self._sent.setdefault(key, threading.Event())
        if call is not None:
            self.driven.add(call.id)

    def sent(self, key: str) -> threading.Event:
        """Set once the document ``key`` has gone out as a webhook's answer."""
        with self._lock:
            return self._sent.setdefault(key, threading.Event())

    def answer_in_place(self, call: V2Call, key: str, bxml: str) -> bool:
        """From a handler answering one of ``call``'s webhooks on this thread: make ``bxml`` that
        webhook's answer (True); otherwise False."""
        frame = getattr(self._local, "frame", None)
        if frame is None or frame["callId"] != call.id:
            return False
        frame["answer"], frame["key"] = bxml, key
        self.driven.add(call.id)
        if frame.get("eventTime"):
            call.fetched_at[key] = pd.Timestamp(frame["eventTime"])
        self.sent(key)
        return True

    def answers_now(self, payload: dict[str, Any]) -> bool:
        """True for the webhooks answered with BXML: their handlers run as the answer is worked out."""
        return payload.get("eventType") in ANSWERED_WITH_BXML

    def __call__(self, payload: dict[str, Any], query: dict[str, str]) -> bytes | None:
        """The receiver's answerer: BXML for the webhooks that take it, None (the usual JSON) for others.

        In order: a document a handler sent for this call (:meth:`V2Call.send`), the document queued for
        this URL, what the handlers returned, a pause (a call the notebook drives), ``<Response/>``.
        """
        if not self.answers_now(payload):
            return None
        key = query.get(_KEY, "")
        with self._lock:
            queued, call, fallback = self._queued.pop(key, (None, None, False))
        if call is not None and payload.get("eventTime"):
            call.fetched_at[key] = pd.Timestamp(payload["eventTime"])
        frame = self._local.frame = {"callId": payload.get("callId"), "eventTime": payload.get("eventTime"),
                                     "answer": None, "key": None}
        try:
            given = self._from_handlers(payload)
        finally:
            self._local.frame = None
        if fallback:
            bxml = frame["answer"] or given or queued
        else:
            bxml = frame["answer"] or queued or given or self._default(payload)
        self.answered += 1
        for done in (key if queued is not None else None, frame["key"]):
            if done is not None:
                self.sent(done).set()  # a hair early: the bytes go out as this returns
        return str(bxml).encode("utf-8")

    def _from_handlers(self, payload: dict[str, Any]) -> str | None:
        session = self._session()
        dispatcher = session._dispatcher if session is not None else None
        answers = dispatcher.run_now(payload, to_bxml) if dispatcher is not None else []
        given = [a for a in answers if a is not None]
        if given:
            return str(given[0])
        return EMPTY_RESPONSE if answers else None

    def _default(self, payload: dict[str, Any]) -> str:
        if str(payload.get("callId") or "") in self.driven:
            return f"<Response>{self.park()}</Response>"
        return EMPTY_RESPONSE

    def __repr__(self) -> str:
        return f"BxmlAnswers({len(self._queued)} queued, {self.answered} answered)"
