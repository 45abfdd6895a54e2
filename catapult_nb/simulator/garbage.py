"""When the simulator lets Python's garbage collector run, so that its passes do not land on timers.

A pass of the collector stops every thread, and so every timer of the simulator, for as long as it takes:
about a millisecond per 5,000 objects it traverses. Two things made gather timers late by 30–400 ms at
5,000 waiting gathers:

- The collector starts a young pass when allocations outnumber deallocations by 700. A process that frees
  old objects as fast as the simulator makes new ones (a client's finished requests, a campaign's spent
  arrivals) never gets there, so thousands of waiting gathers stay young until one pass traverses them
  all at once, just when their timers start to fire.
- A full pass comes once a quarter more objects have grown old than the last one left, so the calls and
  gathers made in a burst set one off a little later, in the middle of their timers.

:class:`Tidier` passes over the young generations every :data:`TIDY_INTERVAL` while the simulator is
busy (the same work, in small pieces), and once the simulator falls quiet after making
:data:`FULL_PASS_AFTER` calls and gathers since the collector's last full pass, it runs that full pass
then. Nothing runs while the simulator is idle, or while the collector is disabled.
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["FULL_PASS_AFTER", "TIDY_INTERVAL", "Tidier"]

#: Wall seconds between the young-generation passes while the simulator is busy.
TIDY_INTERVAL = 0.05
#: Calls and gathers made since the collector's last full pass before a quiet moment gets one.
FULL_PASS_AFTER = 1000


def _full_passes() -> int:
    return int(gc.get_stats()[2]["collections"])


class Tidier:
    """Runs the collector's passes on ``loop`` at moments that suit the timers on it.

    :param loop: the simulator's event loop (every method is called on it).
    :param interval: wall seconds between young passes while busy.
    :param full_after: calls and gathers made before a quiet moment gets a full pass.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float = TIDY_INTERVAL,
        full_after: int = FULL_PASS_AFTER,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.full_after = full_after
        self._next: asyncio.TimerHandle | None = None  # the next look, while busy (and one after)
        self._busy = False  # objects made since the last look
        self._made = 0  # calls and gathers made since the collector's last full pass
        self._full_passes = _full_passes()

    def worked(self, made: int = 0) -> None:
        """Note that the simulator made objects, ``made`` calls or gathers among them."""
        self._busy = True
        self._made += made
        if self._next is None and gc.isenabled():
            self._next = self.loop.call_later(self.interval, self._look)

    @property
    def looking(self) -> bool:
        """Whether a look is due: the simulator has been busy, or was until the last look."""
        return self._next is not None

    def close(self) -> None:
        """Stop looking (the simulator is closing)."""
        if self._next is not None:
            self._next.cancel()
            self._next = None

    def _look(self) -> None:
        self._next = None
        full_passes = _full_passes()
        if full_passes != self._full_passes:  # the collector ran one itself: count from there
            self._full_passes, self._made = full_passes, 0
        if self._busy:
            self._busy = False
            # Generation 1 too once as many young passes have run as the collector's own threshold asks.
            gc.collect(1 if gc.get_count()[1] >= gc.get_threshold()[1] else 0)
            self._next = self.loop.call_later(self.interval, self._look)  # once more, to see it quiet
        elif self._made >= self.full_after:
            gc.collect()
            self._full_passes, self._made = _full_passes(), 0
