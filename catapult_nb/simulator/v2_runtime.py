"""The v2 side of one simulator: its account, every v2 call's running document, and ``<Transfer>``, which
joins two calls (:class:`V2Runtime`). One call's life is :class:`~catapult_nb.simulator.v2_calls.V2Call`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from catapult_nb.simulator.bxml import Verb
from catapult_nb.simulator.delivery import CallbackTarget
from catapult_nb.simulator.state import SimulatorState
from catapult_nb.simulator.v2_calls import V2Call
from catapult_nb.simulator.v2_webhooks import Hook

__all__ = ["V2Runtime"]


class V2Runtime:
    """The v2 side of one simulator: its account, its calls' tasks, and the transfers between calls."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.account_id = state.config.account_id
        self.tasks: set[asyncio.Task[None]] = set()
        self.reroute = {host.lower(): urlsplit(origin) for host, origin in state.config.reroute}

    def route(self, url: str) -> str:
        """Where a request for ``url`` really goes: its host's rerouted origin, if it has one."""
        if not self.reroute:
            return url
        parts = urlsplit(url)
        origin = self.reroute.get((parts.hostname or "").lower())
        if origin is None:
            return url
        return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))

    async def close(self) -> None:
        """Stop every running document (the simulator is shutting down)."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()

    def call_url(self, origin: str, call_id: str) -> str:
        return f"{origin}/api/v2/accounts/{self.account_id}/calls/{call_id}"

    def new_call(
        self,
        direction: str,
        origin: str,
        fields: dict[str, Any],
        first: Hook,
        disconnect: Hook | None,
        callback_timeout: float,
        application_id: str,
        parent: V2Call | None = None,
    ) -> V2Call:
        """A v2 call in the shared call table (``fields``: ``from``, ``to``, ``tag``)."""
        call = self.state.new_call(
            direction, origin, {"from": fields["from"], "to": fields["to"], "tag": fields.get("tag") or None}
        )
        # v2 webhooks name their own targets; the call's timeout still bounds fetching its audio files
        call.target = CallbackTarget(url=None, timeout_ms=max(1, round(callback_timeout * 1000)))
        call.uri = self.call_url(origin, call.id)
        return V2Call(self, call, application_id, call.uri, first, disconnect, callback_timeout, parent)

    async def transfer(self, call: V2Call, verb: Verb) -> list[Verb] | None:
        """``<Transfer>``: dial the first ``<PhoneNumber>``; once it answers (and its transferAnswer BXML,
        if any, is done) the legs are bridged until either hangs up. Then ``transferComplete`` (when the
        A-leg still lives) brings the next document, or the verbs after ``<Transfer>`` run."""
        number = verb.children[0]
        call._set_tag(verb)
        origin = call.call_url.split("/api/v2/", 1)[0]
        caller_id = verb.get("transferCallerId") or call.call.from_
        answer_hook = Hook.from_attrs(
            number.attrs,
            call.base,
            "transferAnswerUrl",
            "transferAnswerMethod",
            "transferAnswerFallbackUrl",
            "transferAnswerFallbackMethod",
        )
        disconnect_hook = Hook.from_attrs(
            number.attrs, call.base, "transferDisconnectUrl", "transferDisconnectMethod"
        )
        leg = self.new_call(
            "out",
            origin,
            {"from": caller_id, "to": number.text, "tag": call.call.tag},
            answer_hook or Hook(call.base),
            None,
            call.callback_timeout,
            call.application_id,
            parent=call,
        )
        leg.transfer_hooks = {"answer": answer_hook, "disconnect": disconnect_hook}
        leg._set_tag(number)  # the PhoneNumber's tag, for the called party's webhooks
        leg.base = call.base
        outcome = leg._wait_outcome()
        leg.dial(float(verb.get("callTimeout", 30.0)))
        try:
            result = await outcome
            if result == "answered" and answer_hook is not None:
                bridged = leg._wait_outcome()
                leg._start(leg._fetch_and_run("transferAnswer", answer_hook))
                result = await bridged
            elif result == "answered":
                result = "bridge"
            if result == "bridge":
                call.partner, leg.partner = leg, call
                result = await leg._wait_outcome()
        except asyncio.CancelledError:
            leg.hang_up(None)  # the A-leg's document stopped or it hung up: hang up (or cancel) the leg
            raise
        call._check_alive()
        call.partner = None
        complete = Hook.from_attrs(
            verb.attrs,
            call.base,
            "transferCompleteUrl",
            "transferCompleteMethod",
            "transferCompleteFallbackUrl",
            "transferCompleteFallbackMethod",
        )
        if complete is None:
            return None
        extra = {
            "transferCallerId": caller_id,
            "transferTo": number.text,
            "cause": result,
            "errorMessage": leg.error_message,
            "errorId": leg.error_id,
        }
        return await call._follow("transferComplete", complete, extra)
