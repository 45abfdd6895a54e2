"""v2 calls: a call driven by the BXML its app answers webhooks with.

Each v2 call is a :class:`~catapult_nb.simulator.resources.SimCall` (so the virtual phone, the
deliveries and the call table are shared with v1) whose :attr:`driver` is a :class:`V2Call`. The
V2Call runs one BXML document at a time in an asyncio task on the simulator's loop, verb by verb, on
the simulator's scaled clock; a webhook that answers with BXML replaces the document. ``<Gather>`` is
the gather engine's machine (:class:`catapult_nb.engine.GatherMachine`, v2 rules). The call ends with
a ``disconnect`` webhook whose ``cause`` says why: ``hangup`` (either side, a ``<Hangup>``, or no
verbs left), ``busy``, ``timeout``, ``rejected``, ``cancel``, ``invalid-bxml`` or ``callback-error``
(with an ``errorMessage``, also shown by ``GET /_sim/calls/{callId}``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from catapult_nb.bxml import MAX_BXML_BYTES, BxmlError
from catapult_nb.engine import COMPLETED, DISCONNECTED, GatherMachine, GatherSpec
from catapult_nb.errors import Error
from catapult_nb.options import Prompt
from catapult_nb.prompts import PromptLength, estimate
from catapult_nb.redact import MASK, redact_url
from catapult_nb.simulator.bxml import Verb, parse_bxml
from catapult_nb.simulator.resources import SimCall, new_id
from catapult_nb.simulator.state import ANSWER_DELAY, INBOUND_RING_SECONDS
from catapult_nb.simulator.v2_webhooks import ANSWERED_WITH_BXML, Hook, payload

if TYPE_CHECKING:
    from catapult_nb.simulator.v2_runtime import V2Runtime

__all__ = ["CallEnded", "V2Call", "driver_of"]

log = logging.getLogger(__name__)

#: v2's names for the call machine's states (``GET …/calls/{callId}``).
V2_STATES = {
    "started": "initiated",
    "active": "answered",
    "transferring": "answered",
    "completed": "disconnected",
    "rejected": "disconnected",
}
#: Documents kept per call for ``GET /_sim/calls/{callId}`` (each cut to ``KEPT_TEXT`` characters).
KEPT_DOCUMENTS = 10
KEPT_TEXT = 4000
#: A password attribute's value in a kept document (a webhook's Basic auth): masked before it is kept.
PASSWORD_ATTRIBUTE = re.compile(
    r"""(\b(?:password|fallbackPassword)\s*=\s*)("[^"]*"|'[^']*')""", re.IGNORECASE
)
SPEECH_NOT_SIMULATED = (
    "input={value!r} asks for speech recognition, which the simulator does not simulate; use "
    'input="dtmf" (the default) to gather keys'
)


class CallEnded(Error):
    """The call ended while a document ran: the document stops (never leaves the simulator)."""


class V2Call:
    """One v2 call's life: its webhooks, its BXML and the verbs running now.

    :param runtime: the v2 side of the simulator.
    :param call: the shared call record (its ``driver`` is set to this object).
    :param application_id: the ``applicationId`` every webhook carries.
    :param first: where the call's first document comes from (answer or initiate webhook).
    :param disconnect: where the ``disconnect`` webhook goes (None: nowhere, as on v2).
    :param callback_timeout: seconds each webhook may take (``callbackTimeout``).
    """

    dialect = "v2"

    def __init__(
        self,
        runtime: V2Runtime,
        call: SimCall,
        application_id: str,
        call_url: str,
        first: Hook,
        disconnect: Hook | None,
        callback_timeout: float,
        parent: V2Call | None = None,
    ) -> None:
        self.runtime = runtime
        self.state = runtime.state
        self.call = call
        call.driver = self
        self.application_id = application_id
        self.call_url = call_url
        self.first = first
        self.disconnect_hook = disconnect
        self.callback_timeout = callback_timeout
        self.parent = parent  # the A-leg, when this call is the B-leg of a <Transfer>
        self.transfer_hooks: dict[str, Hook | None] = {}  # a B-leg's transferAnswer/Disconnect hooks
        self.partner: V2Call | None = None  # the other leg while bridged
        self.base = first.url  # relative URLs resolve against the URL that served the BXML
        self.task: asyncio.Task[None] | None = None
        self.gather: GatherMachine | None = None
        self._gather_timer: asyncio.TimerHandle | None = None
        self._gather_done: asyncio.Future[None] | None = None
        # keys pressed while a Gather's audio is being measured (rendered, fetched): the Gather runs from
        # the moment it is reached, so they count, at their own times
        self._early_keys: list[tuple[str, float]] | None = None
        self._cursor: float | None = None  # where the last wait ended, on the API clock (see _moment)
        self.dtmf_hook: Hook | None = None  # set by <StartGather>
        self.cause: str | None = None
        self.error_message: str | None = None
        self.error_id: str | None = None
        self.documents: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEPT_DOCUMENTS)
        self._ended_waiters: list[asyncio.Future[str]] = []

    # -- what the phone and the REST routes do ------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.call.machine.ended

    def press(self, key: str, at: float | None) -> None:
        """The far end pressed ``key``: the running Gather hears it, else a StartGather, else nobody."""
        if self.ended:
            return
        now = self.state.clock.now() if at is None else at
        if self.gather is not None and not self.gather.done:
            self._apply(self.gather.press(key, now))
        elif self._early_keys is not None:
            self._early_keys.append((key, now))
        elif self.dtmf_hook is not None:
            self._send("dtmf", self.dtmf_hook, {"digit": key}, at=now)
        # else: no Gather listens, so the key is lost, as on a real line

    def hang_up(self, at: float | None) -> None:
        """The far end (or the app, or the simulator) ends the call: cause ``hangup`` once answered,
        ``cancel`` before."""
        if self.ended:
            return
        self.end("hangup" if self.call.machine.state != "started" else "cancel", at=at)

    def describe(self) -> dict[str, Any]:
        """What ``GET /_sim/calls/{callId}`` adds for a v2 call."""
        body: dict[str, Any] = {
            "dialect": "v2",
            "v2State": V2_STATES[self.call.machine.state],
            "cause": self.cause,
            "errorMessage": self.error_message,
            "tag": self.call.tag,
            "documents": list(self.documents),
        }
        if self.parent is not None:
            body["parentCallId"] = self.parent.call.id
        return body

    def call_state(self) -> dict[str, Any]:
        """The CallState body of ``GET /api/v2/accounts/{accountId}/calls/{callId}``."""
        call, clock = self.call, self.state.clock
        body: dict[str, Any] = {
            "applicationId": self.application_id,
            "accountId": self.runtime.account_id,
            "callId": call.id,
            "to": call.to,
            "from": call.from_,
            "direction": self.direction,
            "state": V2_STATES[call.machine.state],
            "startTime": clock.iso(call.created),
            "lastUpdate": clock.iso(call.ended_at if call.ended_at is not None else self._last_update()),
        }
        if self.parent is not None:
            body["parentCallId"] = self.parent.call.id
        if call.active_at is not None:
            body["answerTime"] = clock.iso(call.active_at)
        if call.ended_at is not None:
            body["endTime"] = clock.iso(call.ended_at)
            body["disconnectCause"] = self.cause
        if self.error_message:
            body["errorMessage"] = self.error_message
            body["errorId"] = self.error_id
        return body

    def _last_update(self) -> float:
        call = self.call
        return call.active_at if call.active_at is not None else call.created

    @property
    def direction(self) -> str:
        return "inbound" if self.call.machine.direction == "in" else "outbound"

    # -- the call's life ------------------------------------------------------------------------------

    def dial(self, call_timeout: float) -> None:
        """An outbound call rings; the ``to`` number's last digits choose what the far end does."""
        to, now = self.call.to, self.state.clock.now()
        # each at its own moment, however late the loop runs the timer
        if to.endswith("0001"):
            at = now + call_timeout
            self.state.timer_at(self.call, at, lambda: self.end("timeout", at=at))
        elif to.endswith("0002") or to.endswith("0003"):
            at, cause = now + ANSWER_DELAY, "busy" if to.endswith("0002") else "rejected"
            self.state.timer_at(self.call, at, lambda: self.end(cause, at=at))
        else:
            at = now + ANSWER_DELAY
            self.state.timer_at(self.call, at, lambda: self.answered(at))

    def answered(self, at: float | None = None) -> None:
        """The far end picked up (at API time ``at``, default now): the ``answer`` webhook fetches the
        first document (for a B-leg, the ``transferAnswer`` webhook, if its PhoneNumber named one)."""
        self.call.machine.answer()
        self.call.active_at = self.state.clock.now() if at is None else at
        if self.parent is not None:
            self._notify("answered")
            return
        self._start(self._fetch_and_run("answer", self.first))

    def ring(self) -> None:
        """An inbound call rings: the ``initiate`` webhook's BXML answers it and runs."""
        self.state.timer(self.call, INBOUND_RING_SECONDS, lambda: self.end("cancel"))
        self._start(self._fetch_and_run("initiate", self.first))

    def redirect(self, hook: Hook, tag: str | None = None) -> None:
        """``POST …/calls/{callId}`` with ``redirectUrl``: stop what runs, fetch BXML from there."""
        if tag is not None:
            self.call.tag = tag or None
        self._interrupt()
        self._start(self._fetch_and_run("redirect", hook))

    def replace(self, verbs: list[Verb], text: str) -> None:
        """``PUT …/calls/{callId}/bxml``: stop what runs and run ``verbs`` instead."""
        self._interrupt()
        self._keep_document(text, "PUT …/bxml")
        self._start(self._run(verbs))

    def end(self, cause: str, message: str | None = None, at: float | None = None) -> None:
        """End the call with ``cause`` (and ``errorMessage``), send ``disconnect``, end a bridged leg."""
        call = self.call
        if call.machine.ended:
            return
        call.machine.end("rejected" if cause == "rejected" else "completed")
        now = self.state.clock.now() if at is None else at
        if self.gather is not None and not self.gather.done:
            self.gather.hang_up(now)  # a v2 gather ended by a hang-up has no result: no gather webhook
        self.state.cancel_timers(call)
        call.ended_at = now
        call.cause = self.cause = cause
        if message:
            self.error_message = message
            self.error_id = new_id("err")
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.parent is None and self.disconnect_hook is not None:
            self._send("disconnect", self.disconnect_hook, self._ending(), at=now)
        elif self.parent is not None and self.transfer_hooks.get("disconnect") is not None:
            self._send(
                "transferDisconnect",
                self.transfer_hooks["disconnect"],  # type: ignore[arg-type]
                self._ending(),
                at=now,
            )
        self._notify(cause)
        partner, self.partner = self.partner, None
        if partner is not None:
            partner.partner = None
            if partner.parent is self:  # the A-leg hung up: the B-leg goes with it
                partner.end("hangup", at=now)
        self.state.retire(call)

    def _ending(self) -> dict[str, Any]:
        call = self.call
        return {
            "cause": self.cause,
            "errorMessage": self.error_message,
            "errorId": self.error_id,
            "endTime": self.state.clock.iso(call.ended_at),
        }

    def _notify(self, outcome: str) -> None:
        waiters, self._ended_waiters = self._ended_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(outcome)

    def _wait_outcome(self) -> asyncio.Future[str]:
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ended_waiters.append(waiter)
        return waiter

    # -- documents ------------------------------------------------------------------------------------

    def _start(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.task = task
        self.runtime.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.runtime.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("v2 call %s failed", self.call.id, exc_info=task.exception())
            self.end("error", "the simulator failed running this call; see its log")

    def _interrupt(self) -> None:
        """Stop the running document (and its Gather, without a gather webhook)."""
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.task = None
        self._stop_gather()

    async def _fetch_and_run(self, event_type: str, hook: Hook, extra: dict[str, Any] | None = None) -> None:
        verbs = await self.fetch(event_type, hook, extra or {})
        if verbs is None:
            return
        if self.call.machine.state == "started":  # an inbound call is answered by its first document
            self.call.machine.answer()
            self.call.active_at = self.state.clock.now()
            self.state.cancel_timers(self.call)
        await self._run(verbs)

    async def fetch(
        self, event_type: str, hook: Hook, extra: dict[str, Any], at: float | None = None
    ) -> list[Verb] | None:
        """Send a webhook that answers with BXML (its ``eventTime``: ``at``, default now) and read the
        answer; None when the call ended because the webhook could not be delivered
        (``callback-error``) or its BXML was invalid."""
        self._cursor = None  # a webhook takes real time: the next verb starts when its answer is read
        answer = await self._exchange(event_type, hook, extra, at)
        if self.ended:
            return None
        if answer is None:
            failure = self._last_error(hook)
            self.end(
                "callback-error", f"the {event_type} webhook to {redact_url(hook.url)} failed: {failure}"
            )
            return None
        self.base = hook.url
        self._keep_document(answer.decode("utf-8", "replace"), redact_url(hook.url) or hook.url)
        if len(answer) > MAX_BXML_BYTES:
            self.end(
                "invalid-bxml",
                str(
                    BxmlError(
                        "",
                        "",
                        f"a BXML document may be at most {MAX_BXML_BYTES} "
                        f"bytes; the answer to {event_type} is longer",
                    )
                ),
            )
            return None
        if not answer.strip():
            return []  # no BXML: nothing more to do, the call hangs up
        try:
            return parse_bxml(answer, ("Response",))
        except BxmlError as exc:
            self.end("invalid-bxml", str(exc))
            return None

    def _keep_document(self, text: str, source: str) -> None:
        """Keep the document for ``GET /_sim/calls/{callId}``, its passwords masked."""
        shown = PASSWORD_ATTRIBUTE.sub(lambda m: f'{m.group(1)}"{MASK}"', text[:KEPT_TEXT])
        self.documents.append({"time": self.state.clock.iso(), "from": source, "bxml": shown})

    def _last_error(self, hook: Hook) -> str:
        attempts = self.state.deliverer.deliveries(self.call.id)
        return str(attempts[-1]["error"]) if attempts else "not delivered"

    async def _run(self, verbs: list[Verb]) -> None:
        """Run a document's verbs in order; a verb may switch to another document. No verbs left: the
        call hangs up."""
        queue = collections.deque(verbs)
        try:
            while queue:
                if self.ended:
                    return
                following = await self._execute(queue.popleft())
                if following is not None:
                    queue = collections.deque(following)
        except CallEnded:
            return
        if not self.ended:
            if self.parent is not None:  # a B-leg's transferAnswer BXML is done: the legs are bridged
                self._notify("bridge")
            else:
                self.end("hangup", at=self._moment())  # no verbs left

    async def _execute(self, verb: Verb) -> list[Verb] | None:
        """Run one verb; returns the document to continue with when the verb brought one."""
        name = verb.name
        if name in ("SpeakSentence", "PlayAudio"):
            start = self._moment()
            seconds = await self._measure(verb, f"<{name}>")
            await self._sleep_until(start + seconds)
        elif name == "Pause":
            await self._sleep_until(self._moment() + verb.get("duration", 1.0))
        elif name == "Gather":
            return await self._gather(verb)
        elif name == "Redirect":
            hook = Hook.from_attrs(
                verb.attrs,
                self.base,
                "redirectUrl",
                "redirectMethod",
                "redirectFallbackUrl",
                "redirectFallbackMethod",
            )
            self._set_tag(verb)
            return await self._follow("redirect", hook)  # type: ignore[arg-type]
        elif name == "Transfer":
            return await self.runtime.transfer(self, verb)
        elif name == "Hangup":
            self.end("hangup", at=self._moment())
            raise CallEnded
        elif name == "Tag":
            self.call.tag = verb.text or None
        elif name == "StartGather":
            self._set_tag(verb)
            self.dtmf_hook = Hook.from_attrs(verb.attrs, self.base, "dtmfUrl", "dtmfMethod")
        elif name == "StopGather":
            self.dtmf_hook = None
        return None

    async def _follow(
        self, event_type: str, hook: Hook, extra: dict[str, Any] | None = None, at: float | None = None
    ) -> list[Verb]:
        verbs = await self.fetch(event_type, hook, extra or {}, at)
        if verbs is None:
            raise CallEnded
        return verbs

    def _set_tag(self, verb: Verb) -> None:
        if "tag" in verb.attrs:
            self.call.tag = verb.attrs["tag"] or None  # tag="" clears it

    # -- audio and time ---------------------------------------------------------------------------------

    async def _measure(self, verb: Verb, purpose: str) -> float:
        """One play of a SpeakSentence or PlayAudio (files are fetched; one that fails plays 0 s)."""
        if verb.name == "SpeakSentence":
            text = verb.text
            if len(text) > 1000 or self.state.config.prompt_timing == "estimate":
                prompt = Prompt(sentence=text[:1000])
                length = PromptLength(estimate(text), "speak", "estimate")
            else:
                voice = {k: verb.get(k) for k in ("voice", "locale", "gender") if verb.get(k)}
                prompt = Prompt(sentence=text, **voice)
                length = await self.state.measure_prompt(self.call, prompt)
        else:
            prompt = Prompt(file_url=urljoin(self.base, verb.text))  # as the document names it
            fetched = Prompt(file_url=self.runtime.route(prompt.file_url or ""))
            length = await self.state.measure_prompt(self.call, fetched)
        self._check_alive()
        self.state.record_prompt(self.call, purpose, prompt, length)
        return length.seconds

    def _moment(self) -> float:
        """Now, on the call's own timeline: the end of the wait that just ended (a loop that wakes late
        does not shift the verbs after it), else the clock."""
        cursor, self._cursor = self._cursor, None
        now = self.state.clock.now()
        return cursor if cursor is not None and cursor <= now else now

    async def _sleep_until(self, end: float) -> None:
        """Wait until API time ``end``; the next verb starts exactly then."""
        if end > self.state.clock.now():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake() -> None:
                if not waiter.done():
                    waiter.set_result(None)

            self.state.timer_at(self.call, end, wake)
            await waiter
        self._check_alive()
        self._cursor = end

    def _check_alive(self) -> None:
        if self.ended:
            raise CallEnded

    # -- gathers --------------------------------------------------------------------------------------

    async def _gather(self, verb: Verb) -> list[Verb] | None:
        source = verb.get("input", "dtmf")
        if source != "dtmf":
            self.end(
                "invalid-bxml", str(BxmlError("Gather", "input", SPEECH_NOT_SIMULATED.format(value=source)))
            )
            raise CallEnded
        self._set_tag(verb)
        hook = Hook.from_attrs(
            verb.attrs, self.base, "gatherUrl", "gatherMethod", "gatherFallbackUrl", "gatherFallbackMethod"
        )
        started = self._moment()
        seconds = 0.0
        self._early_keys = []
        try:
            for nested in verb.children:
                seconds += await self._measure(nested, f"<Gather> <{nested.name}>")
        finally:
            early, self._early_keys = self._early_keys, None
        timing = {
            k: v
            for k, v in verb.attrs.items()
            if k
            in ("maxDigits", "interDigitTimeout", "firstDigitTimeout", "terminatingDigits", "repeatCount")
        }
        spec = GatherSpec.from_bxml(timing, seconds, max(1, len(verb.children)))
        machine = self.gather = GatherMachine(spec, started)
        done = self._gather_done = asyncio.get_running_loop().create_future()
        self._apply(machine.initial_effects())
        for key, at in early or ():
            if not machine.done:
                self._apply(machine.press(key, max(at, started)))
        try:
            await done
        finally:
            self._gather_done = None
        self._check_alive()
        if hook is None:  # no gatherUrl: the digits are dropped and the next verb runs
            return None
        result = {"digits": machine.digits, "terminatingDigit": machine.terminating_digit}
        return await self._follow("gather", hook, result, at=machine.completed_at)

    def _apply(self, effects: list[Any]) -> None:
        """React to the gather machine's effects, then re-arm its one timer."""
        machine = self.gather
        if machine is None:
            return
        for effect in effects:
            if effect.kind in (COMPLETED, DISCONNECTED):
                self._finish_gather()
        timers = self.call.timers
        if self._gather_timer is not None:
            self._gather_timer.cancel()
            timers.discard(self._gather_timer)
            self._gather_timer = None
        deadline = machine.deadline()
        if deadline is not None:
            handle = self.state.clock.call_at(deadline, self._gather_due, machine, deadline)
            self._gather_timer = handle
            timers.add(handle)

    def _gather_due(self, machine: GatherMachine, deadline: float) -> None:
        if self._gather_timer is not None:
            self.call.timers.discard(self._gather_timer)
            self._gather_timer = None
        if machine is not self.gather or machine.done:
            return
        now = self.state.clock.now()
        self.state.timer_lateness.append(self.state.clock.to_wall(now - deadline))
        # The loop may run a timer a hair early; the engine's own deadline is the authority.
        self._apply(machine.on_deadline(max(now, deadline)))

    def _finish_gather(self) -> None:
        done = self._gather_done
        if done is not None and not done.done():
            done.set_result(None)

    def _stop_gather(self) -> None:
        if self.gather is not None and not self.gather.done:
            self.gather.stop(self.state.clock.now())
        if self._gather_timer is not None:
            self._gather_timer.cancel()
            self.call.timers.discard(self._gather_timer)
            self._gather_timer = None
        self.gather = None

    # -- webhooks -------------------------------------------------------------------------------------

    def _values(self, event_type: str, extra: dict[str, Any], at: float | None) -> dict[str, Any]:
        call, clock = self.call, self.state.clock
        values: dict[str, Any] = {
            "eventType": event_type,
            "eventTime": clock.iso(at),
            "accountId": self.runtime.account_id,
            "applicationId": self.application_id,
            "from": call.from_,
            "to": call.to,
            "direction": self.direction,
            "callId": call.id,
            "callUrl": self.call_url,
            "startTime": clock.iso(call.created),
            "tag": call.tag,
            "answerTime": clock.iso(call.active_at) if call.active_at is not None else None,
        }
        if self.parent is not None:
            values.update(parentCallId=self.parent.call.id, transferCallerId=call.from_, transferTo=call.to)
        values.update(extra)
        return values

    def _send(
        self,
        event_type: str,
        hook: Hook,
        extra: dict[str, Any],
        at: float | None = None,
        reply: asyncio.Future[bytes | None] | None = None,
    ) -> None:
        body = payload(event_type, self._values(event_type, extra, at))
        target = hook.target(self.callback_timeout, self.runtime.route)
        self.state.deliverer.send(self.call.id, target, body, reply)

    async def _exchange(
        self, event_type: str, hook: Hook, extra: dict[str, Any], at: float | None = None
    ) -> bytes | None:
        """Send a webhook that expects BXML back, after the call's earlier webhooks; its answer or None."""
        assert event_type in ANSWERED_WITH_BXML
        reply: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._send(event_type, hook, extra, at=at, reply=reply)
        return await reply


def driver_of(call: SimCall) -> V2Call | None:
    """The v2 side of a call in the shared table; None for a v1 call."""
    driver = call.driver
    return driver if isinstance(driver, V2Call) else None
