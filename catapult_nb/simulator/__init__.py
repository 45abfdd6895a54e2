"""The embedded simulator: a local, wire-compatible stand-in for Catapult's v1 voice API and Bandwidth's
Voice API v2 (BXML apps, on the same port), with a virtual phone that the notebook drives.

::

    with Simulator(speed=10) as sim:
        # sim.api_url, sim.user_id, sim.api_token, sim.api_secret: point a client at these
        sim.phone.press(call_id, "25")

Modules, top down: :mod:`~catapult_nb.simulator.app` (the app factory), ``routes`` and ``middlewares``
(HTTP), ``v2_routes``, ``v2_calls`` (a v2 call running its BXML), ``v2_webhooks`` (their fields),
``bxml`` (the BXML parser for untrusted documents), ``validation`` (request checks), ``state`` (calls,
timers, events), ``resources`` (JSON views),
``delivery`` (callbacks), ``clock`` (scaled time), ``garbage`` (when the collector runs), ``errors``;
:mod:`~catapult_nb.simulator.phone` is the virtual phone's client. The gather rules are
:mod:`catapult_nb.engine`'s.

The decisions taken where the v1 documentation leaves the behaviour open ("unconfirmed" in the
reference) are listed in ``docs/simulator.md``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

from catapult_nb.prompts.timing import check_timing, describe_timing
from catapult_nb.redact import MASK, Secret
from catapult_nb.simulator.clock import check_speed
from catapult_nb.simulator.delivery import DeliveryListener
from catapult_nb.simulator.phone import VirtualPhone
from catapult_nb.simulator.server import SimulatorServer
from catapult_nb.simulator.state import KEEP_ENDED_CALLS, SimConfig

__all__ = ["SimConfig", "Simulator", "VirtualPhone"]


def _check_reroute(reroute: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``{"gather.url": "http://127.0.0.1:8000"}`` as the config keeps it; ValueError names a bad pair."""
    from urllib.parse import urlsplit

    pairs = []
    for host, origin in dict(reroute).items():
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if not isinstance(host, str) or not host or parts is None or parts.scheme not in ("http", "https") \
                or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(
                "reroute maps a host name to an origin such as 'http://127.0.0.1:8000', got "
                f"{host!r}: {origin!r}"
            )
        pairs.append((host, f"{parts.scheme}://{parts.netloc}"))
    return tuple(pairs)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Simulator:
    """A simulator serving from a background thread with its own event loop.

    ``speed`` makes API time run that many times faster than wall time (a 7 s timeout fires after
    0.7 s at ``speed=10``). ``port=0`` picks a free port. The v2 API (``/api/v2``) shares the port and
    the credentials; ``account_id`` is its account, and ``reroute`` (``{"gather.url":
    "http://127.0.0.1:8000"}``) sends a v2 call's webhooks and audio fetches for those hosts to the given
    origin instead, so that examples naming made-up hosts run offline, unchanged. Raises ValueError for
    a bad speed, retry count, account id or reroute; :meth:`start` raises OSError when the address cannot
    be bound.
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
        account_id: str = "9900000",
        reroute: dict[str, str] | None = None,
    ) -> None:
        speed = check_speed(speed)
        if not _is_number(keep_ended_calls) or keep_ended_calls not in range(1, 10**7):
            raise ValueError(
                f"keep_ended_calls must be a whole number of at least 1, got {keep_ended_calls!r}"
            )
        if not _is_number(callback_retries) or callback_retries not in range(11):
            raise ValueError(
                f"callback_retries must be a whole number from 0 to 10, got {callback_retries!r}"
            )
        if not isinstance(account_id, str) or not account_id.isdigit() or len(account_id) > 20:
            raise ValueError(f"account_id must be a string of digits, like '9900000', got {account_id!r}")
        routes = _check_reroute(reroute or {})
        self._config = SimConfig(
            speed=float(speed), user_id=user_id, api_token=api_token, api_secret=Secret(api_secret),
            callback_retries=callback_retries, prompt_timing=check_timing(prompt_timing),
            keep_ended_calls=keep_ended_calls, account_id=account_id, reroute=routes,
        )
        self.host = host
        self._port = port
        self._server: SimulatorServer | None = None  # set while running
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
    def account_id(self) -> str:
        """The v2 API's account id (``/api/v2/accounts/{account_id}/calls``)."""
        return self._config.account_id

    @property
    def api_token(self) -> str:
        return self._config.api_token

    @property
    def api_secret(self) -> str:
        """The secret clients must send; never shown in reprs."""
        return self._config.api_secret.reveal()

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
    def v2_api_url(self) -> str:
        """The v2 API root, ``http://HOST:PORT/api/v2`` (the SDK's ``Configuration(host=…)``; the same
        Basic auth pair as v1: :attr:`api_token` and :attr:`api_secret`)."""
        return self.base_url + "/api/v2"

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
            server = SimulatorServer(self._config, self.host, self._port)
            server.start_serving(timeout)
            self._server = server
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and cancel every pending timer and callback (no-op if not running)."""
        with self._lock:
            if self._server is None:
                return
            self._server.stop_serving(timeout)
            self._server = None
            if self._phone is not None:
                self._phone.close()
                self._phone = None

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every queued callback has been delivered or given up on (TimeoutError if not)."""
        if self._server is None:
            return
        self._server.call(self._server.state.deliverer.wait_idle(), timeout)

    @property
    def timer_lateness(self) -> list[float]:
        """How late each gather timer fired after its deadline, in wall seconds (the last 100,000).

        A health figure of the simulator's clock on a busy machine: a late timer makes a gather end late.
        Raises RuntimeError before :meth:`start`.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return list(self._server.state.timer_lateness)

    def monotonic_at(self, timestamp: str) -> float:
        """The ``time.monotonic()`` reading at which the simulator's clock shows ``timestamp`` (an event's
        ``time`` or a gather's ``createdTime``): to act on the simulator's timeline from the same process,
        e.g. press a key exactly 2 API seconds after a gather was created.

        :raises RuntimeError: before :meth:`start`; ValueError for a timestamp that is not ISO-8601.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        try:
            return self._server.state.clock.loop_time(timestamp)
        except (TypeError, ValueError):
            raise ValueError(
                f"timestamp must be an ISO-8601 time as the simulator writes it, got {timestamp!r}"
            ) from None

    def timestamp_at(self, monotonic: float) -> str:
        """The timestamp the simulator's clock shows when ``time.monotonic()`` reads ``monotonic``
        (:meth:`monotonic_at`'s inverse): e.g. to tell the virtual phone to press a key 2 API seconds
        after something seen now. Raises RuntimeError before :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return self._server.state.clock.stamp_at(monotonic)

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
        """Call ``listener(method, path, status, body)`` after each ``/v1`` or ``/api/v2`` request is
        answered, on the simulator's thread (``body``: the answer's, e.g. the v1 error body). Raises
        RuntimeError before :meth:`start`."""
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
            f"user_id={self.user_id!r}, account_id={self.account_id!r}, "
            f"api_token={self.api_token!r}, api_secret={MASK!r})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("status", "running" if self._server else "stopped"),
            ("API", self.api_url if self._server else "—"),
            ("v2 API", self.v2_api_url if self._server else "—"),
            ("account id (v2)", self.account_id),
            ("speed", f"{self.speed:g}× real time"),
            ("prompt timing", describe_timing(self.prompt_timing)),
            ("user id", self.user_id),
            ("API token", self.api_token),
            ("API secret", MASK),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
            f"<td><code>{html.escape(value)}</code></td></tr>"
            for key, value in rows
        )
        return f"<div><b>Catapult simulator</b><table>{cells}</table></div>"
