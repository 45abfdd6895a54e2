"""One object that opens a working setup: a client, a callback receiver, a tunnel (and a simulator).

    >>> with Session.simulated(speed=10) as session:           # doctest: +SKIP
    ...     call = session.call("+15551234567")
    ...     gather = call.gather(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
    ...                          sentence="Please enter your 5 digit code")
    ...     session.phone.press(call, "25")
    ...     gather.wait()
    GatherResult(reason='inter-digit-timeout', digits='25', ...)

The simulated and the live backends share this surface; only the way the session is opened differs.
"""

from __future__ import annotations

import contextlib
import html
import os
import secrets
import threading
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pandas as pd

from catapult_nb.analysis import gather_table
from catapult_nb.client import DEFAULT_BASE_URL, CatapultClient
from catapult_nb.credentials import ENV_FROM_NUMBER, load_credentials
from catapult_nb.prompts.timing import describe_timing
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.redact import redact

# The calls, gathers and far end a session hands out live in their own module; they are this one's too.
from catapult_nb.session.calls import SIMULATED_FROM, Call, Gather, GatherResult, Phone, SessionError
from catapult_nb.session.handlers import Dispatcher, Handler
from catapult_nb.session.parts import BY_PORT as _BY_PORT
from catapult_nb.session.parts import _Parts
from catapult_nb.session.parts import close_earlier as _close_earlier
from catapult_nb.session.parts import collected as _collected
from catapult_nb.session.parts import label as _label
from catapult_nb.session.parts import open_store as _open_store
from catapult_nb.session.parts import weakly as _weakly
from catapult_nb.session.recording import Recorder, RecordingDiff, rerun
from catapult_nb.session.v2 import BxmlAnswers, V2Call, check_api, place_v2
from catapult_nb.session.v2_client import V2Client, load_v2_credentials
from catapult_nb.store.store import EventStore, StoreClosedError, WaitCancelled
from catapult_nb.tunnel import LoopbackTunnel, Tunnel, open_tunnel

if TYPE_CHECKING:
    from catapult_nb.flows import Flow, FlowRun
    from catapult_nb.simulator import Simulator

__all__ = ["Call", "Gather", "GatherResult", "Session", "SessionError"]

_H = TypeVar("_H", bound=Handler)

# --------------------------------------------------------------------------------------------------


class Session:
    """A client, a receiver and a tunnel wired together, plus the simulator on the simulated backend.

    Open one with :meth:`simulated` (offline, the default for learning) or :meth:`live`.
    """

    def __init__(
        self,
        *,
        backend: str,
        client: CatapultClient | V2Client,
        receiver: CallbackReceiver,
        tunnel: Tunnel | LoopbackTunnel,
        from_number: str,
        simulator: Simulator | None = None,
        speed: float = 1.0,
        label: str,
        owns_store: bool = False,
        prompt_timing: str = "audio",
        api: str = "v1",
    ):
        self.backend = backend  # "simulated" or "live"
        self.api = api  # "v1" (Catapult) or "v2" (Bandwidth's Voice API v2: webhooks answered with BXML)
        self.client: Any = client  # a CatapultClient on v1, a V2Client on v2
        self.receiver = receiver
        self.tunnel = tunnel
        self.from_number = from_number
        self.simulator = simulator
        self.speed = speed  # API seconds per wall second (1 on the live backend)
        self.prompt_timing = prompt_timing  # "audio" (rendered length) or "estimate" (150 wpm)
        self.label = label  # tags this session's events in a shared store
        self._owns_store = owns_store  # opened by the session, so closed with it
        self.calls: list[Call] = []
        self._phone = Phone(simulator.base_url) if simulator is not None else None
        self._listeners: list[Callable[[Session], None]] = []
        self._lock = threading.Lock()
        self._calls_by_id: dict[str, Call] = {}
        self._dispatcher: Dispatcher | None = None  # made by the first on()
        self._closed = False
        self._closed_note = ""  # what its phone raises once closed (said by whoever closes it)
        self._parts = _Parts(tunnel, receiver, simulator, client, owns_store)
        # an unreferenced session (a re-run cell that rebinds `session`) is closed by the collector
        self._finalizer = weakref.finalize(self, _collected, self._parts, label)
        if receiver.port:
            _BY_PORT[receiver.port] = self
        self.answers = BxmlAnswers(self) if api == "v2" else None  # what v2 webhooks are answered with
        if self.answers is not None:
            receiver.answer_with(_weakly(self.answers.__call__))
        self.recorder = Recorder(self)  # what save_recording() writes
        self._parts.hooks.append(self.recorder.detach)

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def simulated(
        cls,
        speed: float = 1.0,
        *,
        store: EventStore | str | os.PathLike[str] | None = None,
        receiver_port: int = 0,
        callback_retries: int = 0,
        prompt_timing: str = "audio",
        api: str = "v1",
    ) -> Session:
        """Start the embedded simulator and a receiver on loopback. No account, no internet.

        ``api="v2"``: Bandwidth's Voice API v2 on the same simulator (see :mod:`catapult_nb.session.v2`).

        ``speed`` runs the simulator's clock faster than wall time (``10``: a 7 s timeout takes 0.7 s).
        ``prompt_timing="audio"`` (the default) times a sentence by its audio rendered with espeak-ng;
        ``"estimate"`` keeps the 150 words-per-minute rule (see :mod:`catapult_nb.prompts`).
        ``store`` is an :class:`EventStore` or a path for one (default ``.catapult/events.sqlite3``).
        """
        from catapult_nb.simulator import Simulator

        _close_earlier(receiver_port)
        api_secret = secrets.token_urlsafe(16)
        label = _label("sim")
        with contextlib.ExitStack() as opened:  # a session that fails to open leaves nothing behind
            simulator = Simulator(speed=speed, api_secret=api_secret, callback_retries=callback_retries,
                                  prompt_timing=prompt_timing)
            simulator.start()
            opened.callback(simulator.stop)
            event_store = _open_store(store, opened)
            receiver = CallbackReceiver(event_store, port=receiver_port, session=label).start()
            opened.pop_all()
        client: CatapultClient | V2Client = CatapultClient(
            simulator.user_id, simulator.api_token, api_secret, base_url=simulator.base_url
        )
        if check_api(api) == "v2":
            client = V2Client(simulator.account_id, simulator.api_token, api_secret,
                              base_url=simulator.v2_api_url)
        return cls(
            api=api,
            backend="simulated",
            client=client,
            receiver=receiver,
            tunnel=LoopbackTunnel(receiver.url),
            from_number=SIMULATED_FROM,
            simulator=simulator,
            speed=speed,
            label=label,
            owns_store=event_store is not store,
            prompt_timing=prompt_timing,
        )

    @classmethod
    def live(
        cls,
        *,
        user_id: str | None = None,
        api_token: str | None = None,
        api_secret: str | None = None,
        from_number: str | None = None,
        base_url: str | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
        store: EventStore | str | os.PathLike[str] | None = None,
        receiver_port: int = 0,
        tunnel: bool = True,
        ngrok_auth_token: str | None = None,
        ngrok_path: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        domain: str | None = None,
        api: str = "v1",
        account_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        application_id: str | None = None,
        **ngrok_options: Any,
    ) -> Session:
        """Talk to the real v1 API (or any v1-compatible server at ``base_url``).

        ``api="v2"``: Bandwidth's Voice API v2, with ``account_id``, ``username``, ``password`` and
        ``application_id`` from the arguments, else ``BANDWIDTH_ACCOUNT_ID`` / ``BANDWIDTH_USERNAME`` /
        ``BANDWIDTH_PASSWORD`` / ``BANDWIDTH_APPLICATION_ID`` (and ``BANDWIDTH_FROM_NUMBER``,
        ``BANDWIDTH_VOICE_URL``) in the environment or ``env_file`` (:mod:`catapult_nb.session.v2_client`).

        Credentials come from the arguments, else ``CATAPULT_USER_ID`` / ``CATAPULT_API_TOKEN`` /
        ``CATAPULT_API_SECRET`` in the environment or ``env_file``; ``from_number`` (a number on your
        account) from ``CATAPULT_FROM_NUMBER``. Callbacks reach the kernel through an ngrok tunnel
        (``NGROK_AUTHTOKEN``); ``tunnel=False`` hands the API the receiver's local URL instead, which
        only a server on this machine can reach.
        """
        _close_earlier(receiver_port)
        label = _label("live")
        # nothing of a session that did not open may stay behind: port, threads, database handles
        with contextlib.ExitStack() as opened:
            client: Any = None
            if check_api(api) == "v2":  # the v2 names: account id, username, password
                v2 = load_v2_credentials(env_file, account_id=account_id, username=username,
                                         password=password, application_id=application_id,
                                         from_number=from_number, base_url=base_url)
                client, from_number = V2Client(v2.account_id, v2.username, v2.password, base_url=v2.base_url,
                                               application_id=v2.application_id), v2.from_number
            client = client or cls._live_client(user_id, api_token, api_secret, base_url, env_file)
            opened.callback(client.close)
            number = from_number or cls._env(ENV_FROM_NUMBER, env_file)
            if not number:
                raise SessionError(
                    "no number to call from: pass from_number='+1…' or set CATAPULT_FROM_NUMBER "
                    "to a number on your Catapult account"
                )
            event_store = _open_store(store, opened)
            # ngrok checks basic_auth at the edge (and may not pass the header on); the receiver keeps
            # its secret path, so a request that reaches it without the tunnel still needs that.
            receiver = CallbackReceiver(event_store, port=receiver_port, session=label)
            opened.callback(receiver.stop)
            receiver.start()
            if tunnel:
                public: Tunnel | LoopbackTunnel = open_tunnel(
                    receiver.port,
                    auth_token=ngrok_auth_token,
                    basic_auth=basic_auth,
                    domain=domain,
                    path=receiver.path,
                    ngrok_path=ngrok_path,
                    **ngrok_options,
                )
            else:
                public = LoopbackTunnel(receiver.url)
            opened.pop_all()
        return cls(
            api=api, backend="live", client=client, receiver=receiver, tunnel=public, from_number=number,
            label=label, owns_store=event_store is not store,
        )

    @staticmethod
    def _env(name: str, env_file: str | os.PathLike[str] | None) -> str | None:
        if os.environ.get(name):
            return os.environ[name]
        if env_file and os.path.exists(env_file):
            from dotenv import dotenv_values

            return dotenv_values(env_file).get(name) or None
        return None

    @staticmethod
    def _live_client(
        user_id: str | None,
        api_token: str | None,
        api_secret: str | None,
        base_url: str | None,
        env_file: str | os.PathLike[str] | None,
    ) -> CatapultClient:
        if not (user_id and api_token and api_secret):
            creds = load_credentials(env_file)  # names the missing variable if there is one
            user_id = user_id or creds.user_id
            api_token = api_token or creds.api_token
            api_secret = api_secret or creds.api_secret
            base_url = base_url or creds.base_url
        return CatapultClient(user_id, api_token, api_secret, base_url=base_url or DEFAULT_BASE_URL)

    # -- the surface ----------------------------------------------------------------------------------

    @property
    def callback_url(self) -> str:
        """Where the API sends this session's events (the tunnel's public URL on the live backend).

        With basic auth on the tunnel the URL carries the credentials (the v1 API sends them): it is
        handed to the API, never shown; displays use ``tunnel.callback_url``, which has none.
        """
        if self.tunnel.basic_auth_user:
            return str(self.tunnel.callback_url_with_credentials())
        return str(self.tunnel.callback_url)

    def serve_audio(self, path: str | os.PathLike[str]) -> str:
        """Serve a local WAV or MP3 file from this session's receiver; returns the URL to give as
        ``fileUrl`` (a gather prompt, ``call.play``).

        The file sits under the receiver's secret path, so only who knows the URL can fetch it; on the
        live backend the URL goes through the tunnel, so the real API can fetch your recording too. The
        URL is a secret like the callback URL: pass it on, do not print it.

        :param path: a WAV or MP3 file on this machine.
        :returns: the file's URL.
        :raises FileNotFoundError: when there is no such file.
        :raises catapult_nb.prompts.AudioError: not a regular WAV or MP3 file within the simulator's 10 MiB.
        """
        from catapult_nb.prompts.fetch import read_audio_file

        read_audio_file(path)  # refuse now what the simulator would skip later
        served = self.receiver.serve_file(path)
        return self.callback_url.removesuffix(self.receiver.path) + served

    @property
    def phone(self) -> Phone:
        """The virtual phone at the far end of simulated calls."""
        if self._phone is None:
            raise SessionError(
                "the virtual phone exists only on the simulated backend; on a live call, press the keys "
                "on the phone you called"
            )
        return self._phone

    @property
    def store(self) -> EventStore:
        return self.receiver.store

    @overload
    def call(self, to: str, *, wait: bool = ..., timeout: float | None = ..., flow: None = ...,
             bxml: Any = ..., **fields: Any) -> Call: ...
    @overload
    def call(self, to: str, *, wait: bool = ..., timeout: float | None = ..., flow: Flow,
             bxml: Any = ..., **fields: Any) -> FlowRun: ...

    def call(
        self, to: str, *, wait: bool = True, timeout: float | None = None, flow: Flow | None = None,
        bxml: Any = None, **fields: Any,
    ) -> Call | FlowRun:
        """Place a call to ``to`` with this session's callback URL; by default wait until it is answered.

        Extra ``fields`` go to the create-call request (``call_timeout``, ``tag``, …). With ``flow`` (a
        :class:`~catapult_nb.flows.Flow`) the flow runs from the moment the call is answered, and its
        :class:`~catapult_nb.flows.FlowRun` is returned at once instead of the call (``run.call``).
        On v2, ``bxml`` is the document the call's ``answer`` webhook gets (then the handlers answer).
        """
        first = None
        if self.answers is not None:
            call_id, first = place_v2(self, to, bxml, flow, fields)
        elif bxml is not None:
            raise SessionError("bxml= answers a v2 call's answer webhook: open the session with api='v2'")
        else:
            call_id = self.client.create_call(from_=self.from_number, to=to, callback_url=self.callback_url,
                                              **fields)
        call = self.call_by_id(call_id, to=to, from_=self.from_number)
        self._notify()
        if flow is not None:
            return flow.run(call, wait_answered=True)
        if wait:
            call.wait_answered(timeout)
            if first is not None:  # v2: the answer's document runs, so keys pressed now count
                call.wait_ready(key=first)
        return call

    # -- event handlers -------------------------------------------------------------------------------

    @overload
    def on(self, event_type: str, handler: None = None) -> Callable[[_H], _H]: ...
    @overload
    def on(self, event_type: str, handler: _H) -> _H: ...

    def on(self, event_type: str, handler: _H | None = None) -> _H | Callable[[_H], _H]:
        """Call ``handler(call, event)`` for each ``event_type`` callback this session receives.

        ``event_type`` is a v1 event name (``answer``, ``gather``, ``speak``, ``hangup``, …) or ``"*"``
        for all. ``event`` is the callback's JSON as the API sent it; ``call`` is the :class:`Call`
        (made on the spot for an inbound call or a transfer's new leg). Handlers run on a worker thread,
        one event at a time for each call and in the order the events were stored, never on the
        receiver's event loop; they may speak, gather, transfer or hang up. An exception is kept in
        :attr:`handler_errors` and logged; it never stops the receiver. Works as a decorator too::

            @session.on("answer")
            def greet(call, event):
                call.speak("Hello")

        :returns: ``handler`` (so the decorator leaves the function as it was).
        :raises TypeError: ``handler`` is not callable.
        """
        if handler is None:
            return lambda fn: self.on(event_type, fn)
        self._handlers().add(event_type, handler)
        return handler

    def off(self, handler: Handler, event_type: str | None = None) -> None:
        """Stop calling ``handler`` (for ``event_type`` only, when given)."""
        if self._dispatcher is not None:
            self._dispatcher.remove(handler, event_type)

    @property
    def handler_errors(self) -> pd.DataFrame:
        """One row per exception a handler raised: ``time``, ``eventType``, ``callId``, ``handler``,
        ``error``, ``traceback``."""
        if self._dispatcher is None:
            return Dispatcher(self._call_for).errors
        return self._dispatcher.errors

    def wait_handlers(self, timeout: float = 10.0) -> bool:
        """Wait until the handlers have dealt with every event received so far; False on timeout."""
        return True if self._dispatcher is None else self._dispatcher.wait_idle(timeout)

    @property
    def events(self) -> pd.DataFrame:
        """Every event this session received, one row each (see :meth:`EventStore.to_dataframe`).

        Still readable after :meth:`close` when the events are in a file.
        """
        return self.to_dataframe(session=self.label)

    def gathers(self) -> pd.DataFrame:
        """The gathers this session created, with the options each was created with (as
        :meth:`EventStore.gathers <catapult_nb.store.EventStore.gathers>` gives them); still readable
        after :meth:`close` when the events are in a file."""
        store = self.store
        if store.closed and self._owns_store and store.path != ":memory:":
            with EventStore(store.path) as reopened:
                everything = reopened.gathers()
        else:
            everything = store.gathers()
        mine = everything["session"].eq(self.label).fillna(False).astype(bool)
        return everything[mine].reset_index(drop=True)

    def gather_table(self) -> pd.DataFrame:
        """One row per gather of this session, with its options and what happened:
        :func:`analysis.gather_table <catapult_nb.analysis.gather_table>` of :attr:`events` and
        :meth:`gathers`."""
        return gather_table(self.events, self.gathers())

    def deliveries(self, call: Call | str | None = None) -> pd.DataFrame:
        """Every callback attempt the simulator made (its traffic inspector), oldest first: as
        :meth:`session.phone.deliveries() <catapult_nb.session.calls.Phone.deliveries>`."""
        if self._phone is None:
            raise SessionError("only the simulator keeps a log of callback attempts; for a live session open "
                               "the ngrok inspector at http://127.0.0.1:4040; session.receiver.rejected()")
        return pd.DataFrame(self._phone.deliveries(call))  # a frame here from the start: no list manners

    def replay(self, events: Any, url: str, *, edit: Any = None, pace: str = "fast", speed: float = 1.0,
               **options: Any) -> pd.DataFrame:
        """Send stored callbacks again, with v1's headers, to ``url``: your app, the receiver, a request bin.

        ``session.replay(session.events.query("eventType == 'gather'"), app_url, edit={"digits": "9"})``.

        :param events: rows of :attr:`events` (or any store's frame), or a list of payload dicts.
        :param edit: a dict of fields to set in each payload, or a function of the payload.
        :param pace: ``"fast"``, or ``"recorded"`` to keep the original gaps divided by ``speed``.
        :returns: one row per request: ``eventType``, ``callId``, ``status``, ``elapsedMs``, ``error``,
            ``payload``. See :func:`catapult_nb.session.replay.replay` for the other options.
        """
        from catapult_nb.session.replay import replay  # sending needs aiohttp's client: loaded when used
        return replay(events, url, edit=edit, pace=pace, speed=speed, **options)

    def save_recording(self, path: str | os.PathLike[str]) -> Path:
        """Write what this session did (its requests and key presses) and got (its callbacks) to ``path``,
        to run it again later against a fresh simulator with :meth:`rerun_recording`.

        :returns: the path written. The receiver's secret URL and any URL password are left out.
        """
        return self.recorder.save(path)

    @classmethod
    def rerun_recording(
        cls, path: str | os.PathLike[str], *, speed: float | None = None, timeout: float = 30.0
    ) -> RecordingDiff:
        """Run a recording's requests and key presses again against a fresh simulator, and compare the
        callbacks (:meth:`replay` is another thing: it sends stored callbacks to an app again).

        ``diff = Session.rerun_recording("session.json"); assert diff.same, diff``.
        :param speed: the simulator's speed for the rerun (default: the recording's).
        :param timeout: wall seconds to wait, at most, for the callbacks of each step.
        :returns: a :class:`~catapult_nb.session.recording.RecordingDiff`, recorded and rerun side by side.
        :raises RecordingError: the file is missing, truncated, not a recording or from a newer version.
        """
        return rerun(path, open_session=cls.simulated, speed=speed, timeout=timeout)

    @classmethod
    def replay_recording(cls, path: str | os.PathLike[str], **kwargs: Any) -> RecordingDiff:
        """Deprecated: :meth:`rerun_recording` (:meth:`replay` sends stored callbacks again)."""
        warnings.warn("Session.replay_recording() is now rerun_recording()", DeprecationWarning, stacklevel=2)
        return cls.rerun_recording(path, **kwargs)

    # -- what calls and gathers use (public, so they need nothing private) ----------------------------

    def call_by_id(self, call_id: str, *, to: str = "", from_: str = "") -> Call:
        """The session's :class:`Call` for ``call_id``; the first time, it is made and added to ``calls``.

        :param to: the number called, for a call this session has not seen yet.
        :param from_: the number it came from, for a call this session has not seen yet.
        :returns: the one :class:`Call` of this session with that id.
        """
        with self._lock:
            call = self._calls_by_id.get(call_id)
            if call is None:
                kind = V2Call if self.api == "v2" else Call
                call = self._calls_by_id[call_id] = kind(self, call_id, to=to, from_=from_)
                self.calls.append(call)
        return call

    def record_gather(self, gather: Gather) -> None:
        """Keep a gather started on one of this session's calls: its options go to the store (so
        :func:`~catapult_nb.analysis.gather_table` knows what was asked) and the listeners
        (:meth:`add_listener`) hear of it. :meth:`Call.gather` calls it."""
        self.store.record_gather(
            gather.id, gather.call.id, gather.recorded_options(), gather.created_time, session=self.label
        )
        self._notify()

    def to_dataframe(self, **filters: Any) -> pd.DataFrame:
        """``store.to_dataframe(**filters)`` (by ``call_id``, ``gather_id``, ``event_type``, ``session``);
        still readable after :meth:`close` when the events are in a file the session opened."""
        store = self.store
        if store.closed and self._owns_store and store.path != ":memory:":
            with EventStore(store.path) as reopened:
                return reopened.to_dataframe(**filters)
        return store.to_dataframe(**filters)

    def wait_for(
        self,
        *,
        gather_id: str | None = None,
        call_id: str | None = None,
        event_type: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
        about: str | None = None,
    ) -> dict[str, Any]:
        """The first stored event that matches (see :meth:`CallbackReceiver.wait_for`), waiting up to
        ``timeout`` wall seconds; :meth:`close` ends the wait at once.

        :param about: what is awaited, in words, for the error when the session closes first.
        :returns: the event as a dict of the store's columns (``payload`` is the callback as sent).
        :raises TimeoutError: nothing matched in time; the message says what to check.
        :raises SessionError: the session was closed while waiting.
        """
        try:
            return self.receiver.wait_for(
                gather_id=gather_id,
                call_id=call_id,
                event_type=event_type,
                predicate=predicate,
                timeout=timeout,
                cancel=self._parts.closing,
            )
        except (WaitCancelled, StoreClosedError):
            if not self._parts.closing.is_set():
                raise
            subject = about or "an event"
            raise SessionError(
                f"session {self.label} was closed while waiting for {subject}; open a new session to go on "
                "(what was stored stays readable: session.events)"
            ) from None

    @property
    def answer_timeout(self) -> float:
        """Wall seconds :meth:`Call.wait_answered` waits by default: 90 on the live backend; on the
        simulator the 1 s answer delay at its speed, plus slack."""
        if self.backend == "live":
            return 90.0
        return 5.0 / self.speed + 10.0

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` when the session closes, once its handlers are done (flow runs use it)."""
        self._parts.hooks.append(fn)

    def add_listener(self, fn: Callable[[Session], None]) -> None:
        """Call ``fn(session)`` when a call is placed (used by the widgets)."""
        self._listeners.append(fn)

    def close(self) -> None:
        """Stop the tunnel, the receiver and the simulator, and close the event store if the session
        opened it (a store passed in stays open). Idempotent.

        A ``wait()`` running in another thread ends at once with a :class:`SessionError`; a gather whose
        event was stored still gives its result afterwards. Everything is stopped even when one part
        fails; the first failure is raised afterwards (a ``TunnelError`` when ngrok would not close the
        tunnel, say). A session nobody refers to any more is closed by the garbage collector.
        """
        if self._closed:
            return
        self._closed = True
        if self._phone is not None:  # what its later uses raise
            self._phone.closed(self._closed_note or f"session {self.label} was closed: open a new session")
        self._finalizer.detach()
        self._parts.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------

    def _notify(self) -> None:
        for fn in list(self._listeners):
            fn(self)

    def _handlers(self) -> Dispatcher:
        with self._lock:
            if self._dispatcher is None:
                if self._closed:
                    raise SessionError("the session is closed: open a new one to handle events")
                self._dispatcher = self._parts.dispatcher = Dispatcher(_weakly(self._call_for))
                self._parts.listener = _weakly(self._on_stored)
                self.store.add_listener(self._parts.listener)
            return self._dispatcher

    def _on_stored(self, row: dict[str, Any]) -> None:
        """The store's listener (on the receiver's writer thread): hand this session's events on."""
        answered_now = self.answers is not None and self.answers.answers_now(row["payload"])
        if row.get("session") == self.label and self._dispatcher is not None and not answered_now:
            self._dispatcher.submit(dict(row["payload"]))

    def _call_for(self, call_id: str, event: dict[str, Any]) -> Call:
        return self.call_by_id(call_id, to=str(event.get("to") or ""), from_=str(event.get("from") or ""))

    # -- display --------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (f"Session({self.backend}, api={self.client.base_url!r}, calls={len(self.calls)}, "
                f"prompt_timing={self.prompt_timing!r}, receiver={self.receiver!r}, closed={self._closed})")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def summary(self) -> list[tuple[str, str]]:
        """What a display of the session shows, as ``(label, value)`` rows, secrets masked.

        :returns: backend, API, user, receiver and callback URLs, calls and state, then the handlers.
        """
        rows = [
            ("backend", self.backend + (f" (speed ×{self.speed:g})" if self.backend == "simulated" else "")),
            ("API", self.client.base_url),
            ("user", self.client.user_id),
            ("receiver", self.receiver.masked_url),
            ("callback URL", redact(str(self.tunnel.callback_url))),
            ("prompt timing", describe_timing(self.prompt_timing)),
            ("calls", str(len(self.calls))),
            ("state", "closed" if self._closed else "open"),
        ]
        if self._dispatcher is not None:
            handlers = ", ".join(
                f"{kind}: {getattr(fn, '__name__', fn)}" for kind, fn in self._dispatcher.handlers
            )
            rows.append(("handlers", handlers or "—"))
            errors = self._dispatcher.error_count
            rows.append(("handler errors", f"{errors} (see session.handler_errors)" if errors else "none"))
        return rows

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in self.summary())
        return f"<div class='cnb-session'><b>catapult_nb session</b><table>{cells}</table></div>"
