"""The one thread that writes a callback receiver's deliveries to its :class:`~catapult_nb.store.EventStore`.

The receiver's event loop never waits on SQLite: each delivery is handed to this thread, which commits
whatever deliveries are waiting in one transaction (group commit), so concurrent senders share the cost of
each commit, and then wakes each waiting request on its own loop with the outcome. Rejected deliveries are
written one by one after the batch's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import Any

from catapult_nb.store.store import EventStore

__all__ = ["BATCH", "StoreWriter"]

log = logging.getLogger(__name__)

#: The most deliveries committed in one transaction.
BATCH = 512


class StoreWriter:
    """The one thread that writes to the store: events in batches, rejected deliveries one by one.

    :param store: where the deliveries go.
    :param session: the label stored with every event (or None).
    :param name: the thread's name.
    """

    _STOP = object()

    def __init__(
        self, store: EventStore, session: str | None, name: str = "catapult-receiver-writer"
    ) -> None:
        self._store = store
        self._session = session
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def store_event(self, payload: dict[str, Any], received: float) -> bool:
        """Store one callback event once it is committed; runs on the caller's event loop.

        :param payload: the callback as sent.
        :param received: when it arrived (``time.time()``).
        :returns: True when it was stored, False when it was a retry of one already stored.
        :raises Exception: what the store raised (disk full, closed): the sender should try again.
        """
        return bool(await self._submit(("event", payload, received)))

    async def store_rejected(self, record: dict[str, Any]) -> None:
        """Record a refused delivery (``EventStore.add_rejected(**record)``) once it is committed.

        :raises Exception: what the store raised.
        """
        await self._submit(("rejected", record))

    def stop(self) -> None:
        """Write what is waiting, then end the thread (and wait for it)."""
        self._queue.put(self._STOP)
        self._thread.join()

    def _submit(self, job: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, *job))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is self._STOP:
                return
            jobs, stop = [first], False
            while len(jobs) < BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is self._STOP:
                    stop = True
                    break
                jobs.append(job)
            self._write(jobs)
            if stop:
                return

    def _write(self, jobs: list[tuple[Any, ...]]) -> None:
        events = [job for job in jobs if job[2] == "event"]
        if events:
            items = [(job[3], "receiver", self._session, job[4]) for job in events]
            try:
                outcome: Any = self._store.add_many(items)
            except TypeError:  # one payload the store refuses must not fail its neighbours
                outcome = [self._add_alone(item) for item in items]
            except Exception as exc:  # handed to each waiting request, which answers 503
                log.exception("could not store %d callback event(s)", len(events))
                outcome = exc
            self._resolve(events, outcome)
        for job in jobs:
            if job[2] == "rejected":
                try:
                    self._store.add_rejected(**job[3])
                    outcome = None
                except Exception as exc:
                    log.exception("could not record a rejected delivery")
                    outcome = exc
                self._resolve([job], [outcome] if outcome is None else outcome)

    def _add_alone(self, item: tuple[Any, ...]) -> bool | Exception:
        try:
            return self._store.add_many([item])[0]
        except Exception as exc:
            log.exception("could not store a callback event")
            return exc

    @staticmethod
    def _resolve(jobs: list[tuple[Any, ...]], outcome: list[Any] | Exception) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for index, job in enumerate(jobs):
            loop, future = job[0], job[1]
            by_loop.setdefault(loop, []).append(
                (future, outcome if isinstance(outcome, Exception) else outcome[index])
            )
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_set_results, results)


def _set_results(results: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in results:
        if future.done():
            continue
        if isinstance(value, Exception):
            future.set_exception(value)
        else:
            future.set_result(value)
