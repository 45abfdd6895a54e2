"""Run widget updates where ipywidgets expects them, and the one thread a widget may tick on.

Events arrive on the receiver's thread. Widget state is sent to the front end from the kernel's main
thread: ipykernel 7 moved shell handling to its own thread and routes output by the thread's parent
message, so updates made straight from a background thread can be dropped or land in the wrong cell.
``call_in_kernel`` hands the update to the kernel's IO loop (``add_callback`` is thread-safe); outside a
kernel (plain Python, tests) it runs the update at once under a lock. A widget that redraws on a clock
(the gather countdown) ticks on a :class:`Ticker`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_lock = threading.RLock()


def _kernel_loop() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return getattr(kernel, "io_loop", None)


def call_in_kernel(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the kernel's main thread soon, or now when there is no kernel."""
    loop = _kernel_loop()
    if loop is not None and threading.current_thread() is not threading.main_thread():
        loop.add_callback(_guarded, fn)
    else:
        _guarded(fn)


def _guarded(fn: Callable[[], None]) -> None:
    with _lock:
        try:
            fn()
        except Exception:  # a broken refresh must not kill the receiver or the kernel loop
            log.exception("widget update failed")


class Coalescer:
    """Schedules ``fn`` at most once at a time, however many events arrive before it runs."""

    def __init__(self, fn: Callable[[], None]):
        self._fn = fn
        self._pending = False
        self._lock = threading.Lock()

    def __call__(self, *_: Any) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        call_in_kernel(self._run)

    def _run(self) -> None:
        with self._lock:
            self._pending = False
        self._fn()


class Ticker:
    """Calls ``step()`` every ``interval`` wall seconds, on a daemon thread of its own, while it returns True.

    :meth:`start` starts the thread, or, when one is running, makes it take at least one more step: a
    ``start()`` that races a step returning False is never lost. :meth:`stop` ends it.

    :param step: called on the ticker's thread; returns False when there is nothing left to follow.
    :param interval: wall seconds between steps (the first comes one interval after :meth:`start`).
    :param name: the thread's name.
    """

    def __init__(self, step: Callable[[], bool], interval: float, name: str) -> None:
        self.interval = interval
        self.name = name
        self._step = step
        self._lock = threading.Lock()
        self._running = False  # a thread is ticking (set and cleared under the lock)
        self._again = False  # start() came during a step: take another even if the step said stop
        self._stopped = threading.Event()

    def start(self) -> None:
        """Tick from now on (a no-op but for one more step when already ticking)."""
        with self._lock:
            self._again = True
            if self._running:
                return
            self._running = True
        self._stopped.clear()
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self) -> None:
        """Stop ticking; the thread ends at its next interval."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            with self._lock:
                self._again = False
            if self._step():
                continue
            with self._lock:
                if not self._again:
                    self._running = False
                    return
        with self._lock:  # stopped
            self._running = False
