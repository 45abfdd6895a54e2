"""The one thread that writes a callback receiver's deliveries to its :class:`~catapult_nb.store.EventStore`.

The receiver's event loop never waits on SQLite: each delivery is handed to this thread, which commits
whatever deliveries are waiting in one transaction (group commit), so concurrent senders share the cost of
each commit, and then wakes each waiting request on its own loop with the outcome. Rejected deliveries are
written one by one after the batch's events.

While an import holds the store in its one transaction (:meth:`EventStore.bulk`), a batch that cannot be
written within :data:`BUSY_WAIT` seconds goes to an inbox beside the store (``<store>-inbox``, SQLite,
committed before the answer) and is answered at once; the inbox is emptied into the store, in arrival
order, as soon as the store is free again (and when a receiver opens on a store whose inbox holds events
a stopped process left). Those deliveries are answered as stored; a retry of one is recognised as a
duplicate once it is in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
from typing import Any

from catapult_nb.store.store import EventStore, StoreBusyError

__all__ = ["BATCH", "BUSY_WAIT", "Inbox", "StoreWriter"]

log = logging.getLogger(__name__)

#: The most deliveries committed in one transaction.
BATCH = 512
#: Seconds a batch waits for a store held by an import before it goes to the inbox (the API waits for an
#: answer 10 s at most).
BUSY_WAIT = 1.0
#: Seconds between tries to empty the inbox while the store is held.
RETRY_EVERY = 0.25


class Inbox:
    """Deliveries answered while the store was held, kept in arrival order until it is free.

    :param path: the inbox's SQLite file, or ``":memory:"`` for a store in memory.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, "
            "source TEXT NOT NULL, session TEXT, received REAL NOT NULL)"
        )
        self.waiting = self._conn.execute("SELECT count(*) FROM inbox").fetchone()[0]

    def put(self, items: list[tuple[Any, ...]]) -> None:
        """Keep ``(payload, source, session, received)`` items (committed when this returns)."""
        with self._conn:
            self._conn.executemany(
                "INSERT INTO inbox (payload, source, session, received) VALUES (?, ?, ?, ?)",
                [(json.dumps(payload), source, session, received) for payload, source, session, received
                 in items],
            )
        self.waiting += len(items)

    def take(self, store: EventStore, wait: float) -> bool:
        """Move what is waiting into ``store`` (one transaction there); False when the store is still held.

        :raises Exception: what the store raised otherwise (the items stay in the inbox).
        """
        rows = self._conn.execute(
            "SELECT id, payload, source, session, received FROM inbox ORDER BY id"
        ).fetchall()
        if rows:
            try:
                store.add_many([(json.loads(p), source, session, received) for _, p, source, session, received
                                in rows], wait=wait)
            except StoreBusyError:
                return False
            with self._conn:
                self._conn.execute("DELETE FROM inbox WHERE id <= ?", (rows[-1][0],))
        self.waiting = 0
        return True

    def close(self) -> None:
        self._conn.close()


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
        self._inbox = Inbox(":memory:" if store.path == ":memory:" else store.path + "-inbox")
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
        try:
            self._serve()
        finally:
            if self._inbox.waiting:  # the last try: what stays is taken by the next receiver on the store
                with contextlib.suppress(Exception):
                    self._inbox.take(self._store, BUSY_WAIT)
            self._inbox.close()

    def _serve(self) -> None:
        while True:
            if self._inbox.waiting:
                self._empty_inbox(0.0)
                try:
                    first = self._queue.get(timeout=RETRY_EVERY)
                except queue.Empty:
                    continue
            else:
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
                if self._inbox.waiting and not self._empty_inbox(BUSY_WAIT):
                    raise StoreBusyError("the inbox still waits")  # after it, to keep the arrival order
                outcome: Any = self._store.add_many(items, wait=BUSY_WAIT)
            except StoreBusyError:  # an import holds the store: keep them for after it, answer now
                try:
                    self._inbox.put(items)
                    outcome = [True] * len(items)
                except Exception as exc:  # handed to each waiting request, which answers 503
                    log.exception("could not keep %d callback event(s) for later", len(events))
                    outcome = exc
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

    def _empty_inbox(self, wait: float) -> bool:
        """Move the inbox into the store; False while the store is held (or could not take them)."""
        try:
            return self._inbox.take(self._store, wait)
        except Exception:
            log.exception("could not move %d kept callback event(s) into the store", self._inbox.waiting)
            return False

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
