"""What every session is made of and what it stops when it closes, apart from :class:`Session` itself.

The helpers here open the pieces both dialects share (the label that tags a session's events, the store,
the earlier session on a fixed port) and :class:`_Parts`, what a session closes, kept apart so that garbage
collection can close an unreferenced session. :mod:`catapult_nb.session.session` and
:mod:`catapult_nb.session.v2` use them.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.session.handlers import Dispatcher
from catapult_nb.store.store import EventStore
from catapult_nb.tunnel import LoopbackTunnel, Tunnel

if TYPE_CHECKING:
    from catapult_nb.session.session import Session
    from catapult_nb.simulator import Simulator

__all__ = ["BY_PORT", "close_earlier", "collected", "label", "open_store", "weakly"]

_labels = itertools.count(1)
log = logging.getLogger(__name__)

# Open sessions by their fixed receiver port, so a re-run cell closes the whole earlier session.
BY_PORT: weakref.WeakValueDictionary[int, Session] = weakref.WeakValueDictionary()


def label(backend: str) -> str:
    """Tags one session's events in a store that several sessions share."""
    return f"{backend}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{next(_labels)}"


def open_store(
    store: EventStore | str | os.PathLike[str] | None, opened: contextlib.ExitStack
) -> EventStore:
    """The given store, or one opened at the given path (closed by ``opened`` if the session fails)."""
    if isinstance(store, EventStore):
        return store
    event_store = EventStore(store)
    opened.callback(event_store.close)
    return event_store


def close_earlier(port: int) -> None:
    """Close the open session of this process whose receiver has ``port`` (a re-run cell), saying so."""
    earlier = BY_PORT.get(port) if port else None
    if earlier is not None and not earlier.closed:
        print(
            f"catapult_nb: closed the earlier session {earlier.label} on port {port} to open this one",
            file=sys.stderr,
        )
        earlier._closed_note = f"session {earlier.label} was closed (a newer one replaced it on port {port})"
        earlier.close()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def weakly(method: Callable[_P, _R]) -> Callable[_P, _R | None]:
    """``method`` without keeping its object alive (a no-op once the object is gone), so threads and
    stores that call back into a session never stop it from being garbage-collected."""
    ref = weakref.WeakMethod(method)

    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        bound = ref()
        return None if bound is None else bound(*args, **kwargs)

    return call


@dataclass(eq=False)
class _Parts:
    """What a session stops when it closes, kept apart from the :class:`Session` so that garbage
    collection can close an unreferenced session (``weakref.finalize`` must not hold the session)."""

    tunnel: Tunnel | LoopbackTunnel
    receiver: CallbackReceiver
    simulator: Simulator | None
    client: Any  # a CatapultClient (v1) or a V2Client (v2): both close()
    owns_store: bool
    closing: threading.Event = field(default_factory=threading.Event)
    dispatcher: Dispatcher | None = None
    listener: Callable[[dict[str, Any]], None] | None = None
    hooks: list[Callable[[], None]] = field(default_factory=list)  # run once the handlers are done

    def close(self) -> None:
        """Stop everything even when one part fails; the first failure is raised afterwards."""
        store = self.receiver.store
        self.closing.set()
        store.wake_waiters()  # a wait in another thread ends now, not at its timeout
        steps = [self.tunnel.close, self.receiver.stop]
        if self.dispatcher is not None:  # after the receiver: what it stored is handled first
            listener, dispatcher = self.listener, self.dispatcher
            if listener is not None:
                steps.append(lambda: store.remove_listener(listener))
            steps.append(dispatcher.close)
        steps += self.hooks
        if self.simulator is not None:
            steps.append(self.simulator.stop)
        if self.owns_store:
            steps.append(store.close)
        steps.append(self.client.close)
        failure: BaseException | None = None
        for step in steps:
            try:
                step()
            except Exception as exc:  # the other parts still have to stop
                failure = failure or exc
        if failure is not None:
            raise failure


def collected(parts: _Parts, label: str) -> None:
    """The finalizer of a session nobody refers to any more: close what it left open."""
    log.info("closing session %s: it is no longer referenced", label)
    try:
        parts.close()
    except Exception:
        log.exception("could not close the unreferenced session %s", label)


