"""The embedded Catapult v1 simulator: a local, wire-compatible stand-in for the voice API, with a
virtual phone that the notebook drives.

::

    with Simulator(speed=10) as sim:
        # sim.api_url, sim.user_id, sim.api_token, sim.api_secret: point a client at these
        sim.phone.press(call_id, "25")

Modules, top down: :mod:`~catapult_nb.simulator.app` (the app factory), ``routes`` and ``middlewares``
(HTTP), ``validation`` (request checks), ``state`` (calls, timers, events), ``resources`` (JSON views),
``delivery`` (callbacks), ``clock`` (scaled time), ``errors``; :mod:`~catapult_nb.simulator.phone` is the
virtual phone's client. The gather rules are :mod:`catapult_nb.engine`'s.

Decisions where the v1 documentation leaves the behaviour open ("unconfirmed" in the reference):

- ``digits`` never contains the terminating digit; a timeout with no key pressed gives ``digits: ""``.
- ``maxDigits`` absent → 30; ``interDigitTimeout`` absent → 5, accepted 1…30 s (decimals allowed);
  ``terminatingDigits`` absent → ``"#"``, non-empty, only ``0-9 * # A-D``.
- The inter-digit clock starts when the prompt finishes (at once without a prompt); any key stops the
  prompt and emits ``speak``/``playback`` ``done``. A looping prompt repeats until the first key; the
  clock starts when its first play ends.
- A sentence lasts as long as its audio rendered by espeak-ng (``prompt_timing="audio"``, the default;
  :mod:`catapult_nb.prompts`), or 150 words per minute, at least 0.5 s (``prompt_timing="estimate"``, and
  wherever espeak-ng is missing). Speak events carry ``state`` ``PLAYBACK_START``/``PLAYBACK_STOP``.
- A ``fileUrl`` prompt or ``/audio`` file is fetched (http or https, within the call's
  ``callbackTimeout``, at most 10 MiB) and played for its real length (WAV or MP3). One that cannot be
  fetched or decoded (an HTML page, a 404, too big, too slow, a broken header) is not played: no
  ``playback`` events, the gather goes on as if it had no prompt, and the reason is kept in
  ``GET /_sim/calls/{callId}`` (``prompts``: every prompt measured, its length, timing and reason).
- Keys, hang-ups and timers due at the same instant happen in that order: a key pressed exactly at the
  inter-digit deadline still counts, and a hang-up at that instant gives ``hung-up``.
- ``POST …/gather/{id}`` ``{"state":"completed"}`` → 200 and no ``gather`` event; GET then shows
  ``state: completed``, the digits so far and no ``reason``. Stopping a completed gather: 200, no change.
  While a gather runs, GET shows ``state: started`` and the digits collected so far; ``tag`` is shown
  when the gather has one.
- A second gather while one runs: 409 ``call-duplicate-gather-error``; a gather on a call that is not
  ``active``: 403 ``call-invalid-state``; unknown call 404 ``call-not-found``; unknown gather 404
  ``resource-not-found``; a bad field 400 ``validation-error`` naming the property (a missing required
  one: 400 ``missing-property``; an unusable callback URL: 400 ``callback-invalid-url``); bad
  credentials 401 ``authentication``/``unauthorized``; another user id in the path 403
  ``user-access-denied``. When several apply: 401, 403 user, 404, 400, 403 state, 409.
- Unknown request properties are refused with a 400 naming them, so a typo (``callbackURL``) is caught.
- Ids: ``c-…`` calls, ``gtr-…`` gathers, 23 lowercase base-32 characters after the prefix.
- ``suppressDtmf`` defaults to true: no ``dtmf`` events for keys pressed during a gather; outside a
  gather every key gives a ``dtmf`` event.
- Callbacks: POST JSON, or GET with query parameters for ``callbackHttpMethod: GET``; a connect error,
  no answer within ``callbackTimeout`` or a non-2xx status is a failure; ``callback_retries`` more tries
  (default 0, one API second apart), then one try to ``fallbackUrl``; a redirect counts as a non-2xx
  status and is not followed. ``callbackTimeout`` is wall-clock
  time (a network wait, not scaled by ``speed``). Each call's events go out one at a time, in order.
- Each event of a call has its own ``time``, at least a millisecond after the call's previous event
  (two keys pressed with no gap are two events a millisecond apart), so a receiver can tell a retried
  delivery from a second event.
- Bounded for a long run (``/_sim`` needs no credentials): an ended call is forgotten
  ``ENDED_CALL_HORIZON`` (3600) API seconds after it ended, or once ``keep_ended_calls`` (default 1000)
  newer calls have ended (then GET on it is a 404 that says so); ``/_sim/deliveries`` keeps the last
  10,000 attempts and masks the receiver's secret path; idle connections close after 15 s.
- Outbound calls are answered after 1 s unless ``to`` ends in ``0001`` (never answers: ``timeout`` event
  after ``callTimeout``), ``0002`` (busy: ``hangup`` cause ``USER_BUSY`` after 1 s) or ``0003``
  (``hangup`` cause ``CALL_REJECTED`` after 1 s, state ``rejected``). An inbound call
  (``/_sim/incoming``) that nobody answers is given up after 60 s (cause ``ORIGINATOR_CANCEL``);
  answering it sends an ``answer`` event. Only the far end answers an outbound call: the application's
  ``{"state":"active"}`` on one is a 403 ``call-invalid-state``.
- A hang-up during a gather sends the ``gather`` event (``hung-up``) first, then ``hangup``.
- Voice, locale and gender are each checked against the TTS table, not against each other. A field of
  the wrong JSON type (a ``fileUrl`` that is an object, say) is a 400 ``validation-error``.
- Transfer: POST call ``{"state": "transferring", "transferTo": "+1…"}`` on an active call → 201 and the
  ``Location`` of a new outbound call (the leg) from the call's ``to`` number (``transferCallerId``
  when it is a number), answered like any outbound call (after 1 s; the 0001/0002/0003 numbers too).
  Its events go to the request's ``callbackUrl``, else the call's. The call is ``transferring`` until
  the leg answers, then ``active`` again with the leg, both showing one ``bridgeId``; a leg that does
  not answer gives the caller back, active and unbridged. A hang-up on either side ends both (a
  ``hangup`` event each; ``ORIGINATOR_CANCEL`` for a leg still ringing). A running gather is stopped
  without a ``gather`` event and audio stops; ``whisperAudio`` and the diversion fields are accepted
  and not played. No ``transferTo``: 400 ``missing-property``; a call that is not active: 403.
"""

from __future__ import annotations

import asyncio
import html
import math
import threading
from collections.abc import Callable
from typing import Any

from catapult_nb.prompts.timing import check_timing, describe_timing
from catapult_nb.simulator.delivery import DeliveryListener
from catapult_nb.simulator.phone import VirtualPhone
from catapult_nb.simulator.server import RunningServer, start_server
from catapult_nb.simulator.state import KEEP_ENDED_CALLS, SimConfig

__all__ = ["SimConfig", "Simulator", "VirtualPhone"]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Simulator:
    """A simulator serving from a background thread with its own event loop.

    ``speed`` makes API time run that many times faster than wall time (a 7 s timeout fires after
    0.7 s at ``speed=10``). ``port=0`` picks a free port. Raises ValueError for a bad speed or retry
    count; :meth:`start` raises OSError when the address cannot be bound.
    """

    def __init__(
        self,
        speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        user_id: str = "u-simulator",
        api_token: str = "t-simulator",
        api_secret: str = "simulator-secret",
        callback_retries: int = 0,
        prompt_timing: str = "audio",
        keep_ended_calls: int = KEEP_ENDED_CALLS,
    ) -> None:
        if not _is_number(speed) or not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number (1 = real time), got {speed!r}")
        if not _is_number(keep_ended_calls) or keep_ended_calls not in range(1, 10**7):
            raise ValueError(
                f"keep_ended_calls must be a whole number of at least 1, got {keep_ended_calls!r}"
            )
        if not _is_number(callback_retries) or callback_retries not in range(11):
            raise ValueError(
                f"callback_retries must be a whole number from 0 to 10, got {callback_retries!r}"
            )
        self._config = SimConfig(
            speed=float(speed), user_id=user_id, api_token=api_token, api_secret=api_secret,
            callback_retries=callback_retries, prompt_timing=check_timing(prompt_timing),
            keep_ended_calls=keep_ended_calls,
        )
        self.host = host
        self._port = port
        self._server: RunningServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._phone: VirtualPhone | None = None
        self._lock = threading.Lock()

    # -- settings ------------------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        return self._config.speed

    @property
    def prompt_timing(self) -> str:
        """``"audio"`` (sentences last as long as their rendered audio) or ``"estimate"`` (150 wpm)."""
        return self._config.prompt_timing

    @property
    def user_id(self) -> str:
        return self._config.user_id

    @property
    def api_token(self) -> str:
        return self._config.api_token

    @property
    def api_secret(self) -> str:
        """The secret clients must send; never shown in reprs."""
        return self._config.api_secret

    @property
    def port(self) -> int:
        """The port really listened on (the requested one until started)."""
        return self._server.port if self._server else self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``; raises RuntimeError before :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it in a with block")
        return self._server.base_url

    @property
    def api_url(self) -> str:
        """The v1 API root, ``http://HOST:PORT/v1``."""
        return self.base_url + "/v1"

    @property
    def phone(self) -> VirtualPhone:
        """The virtual phone: press keys, hang up, ring in, inspect deliveries."""
        base_url = self.base_url
        if self._phone is None:
            self._phone = VirtualPhone(base_url)
        return self._phone

    # -- life ----------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Simulator:
        """Start serving (no-op if running); returns once connections are accepted."""
        with self._lock:
            if self._server is not None:
                return self
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            outcome: dict[str, Any] = {}

            def serve() -> None:
                asyncio.set_event_loop(loop)
                try:
                    server = start_server(self._config, self.host, self._port)
                    outcome["server"] = loop.run_until_complete(server)
                except BaseException as exc:  # handed to start()'s caller, who decides
                    outcome["error"] = exc
                    ready.set()
                    loop.close()
                    return
                ready.set()
                loop.run_forever()
                loop.run_until_complete(outcome["server"].close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

            thread = threading.Thread(target=serve, name="catapult-simulator", daemon=True)
            thread.start()
            if not ready.wait(timeout):
                raise RuntimeError(f"the simulator did not start within {timeout} s")
            if "error" in outcome:
                thread.join(timeout)
                raise outcome["error"]
            self._server, self._loop, self._thread = outcome["server"], loop, thread
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and cancel every pending timer and callback (no-op if not running)."""
        with self._lock:
            if self._server is None or self._loop is None or self._thread is None:
                return
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._server = self._loop = self._thread = None
            if self._phone is not None:
                self._phone.close()
                self._phone = None

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every queued callback has been delivered or given up on (TimeoutError if not)."""
        if self._server is None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._server.state.deliverer.wait_idle(), self._loop)
        future.result(timeout)

    @property
    def timer_lateness(self) -> list[float]:
        """How late each gather timer fired after its deadline, in wall seconds (the last 100,000).

        A health figure of the simulator's clock on a busy machine: a late timer makes a gather end late.
        Raises RuntimeError before :meth:`start`.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return list(self._server.state.timer_lateness)

    def add_delivery_listener(self, listener: DeliveryListener) -> None:
        """Call ``listener(record, event, answer, done)`` after every callback attempt, on the simulator's
        thread.

        ``record`` is the attempt as ``/_sim/deliveries`` lists it, ``event`` the payload sent, ``answer``
        the first bytes of the body the callback server answered and ``done`` whether the simulator is
        finished with the event (delivered, or no retry or fallback left). The listener must be quick and
        must not block. Raises RuntimeError before :meth:`start`.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        self._server.state.deliverer.listeners.append(listener)

    def add_request_listener(self, listener: Callable[[str, str, int, bytes], None]) -> None:
        """Call ``listener(method, path, status, body)`` after each ``/v1`` request is answered, on the
        simulator's thread (``body``: the answer's, e.g. the v1 error body). Raises RuntimeError before
        :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        self._server.state.request_listeners.append(listener)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- display -------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        where = self.base_url if self._server else "not running"
        return (
            f"Simulator({where}, speed={self.speed:g}, prompt_timing={self.prompt_timing!r}, "
            f"user_id={self.user_id!r}, "
            f"api_token={self.api_token!r}, api_secret='***')"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("status", "running" if self._server else "stopped"),
            ("API", self.api_url if self._server else "—"),
            ("speed", f"{self.speed:g}× real time"),
            ("prompt timing", describe_timing(self.prompt_timing)),
            ("user id", self.user_id),
            ("API token", self.api_token),
            ("API secret", "***"),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
            f"<td><code>{html.escape(value)}</code></td></tr>"
            for key, value in rows
        )
        return f"<div><b>Catapult simulator</b><table>{cells}</table></div>"
