"""The simulator's scaled clock: API seconds that run ``speed`` times faster than wall time."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["MAX_SPEED", "MIN_SPEED", "SimClock", "check_speed", "iso_time"]

#: The fastest clock: a day of wall time is 27 years of API time, well inside what an event's time can
#: hold (pandas' nanosecond timestamps end in 2262); beyond it timers overflow and times leave that range.
MAX_SPEED = 10_000.0
#: The slowest clock: a 1 s API timer already waits over 16 minutes.
MIN_SPEED = 0.001


def check_speed(speed: Any) -> float:
    """``speed`` as a float.

    :raises ValueError: unless it is a number from :data:`MIN_SPEED` to :data:`MAX_SPEED`.
    """
    number = speed if isinstance(speed, (int, float)) and not isinstance(speed, bool) else float("nan")
    if not MIN_SPEED <= number <= MAX_SPEED:
        raise ValueError(
            f"speed must be a positive number from {MIN_SPEED:g} to {MAX_SPEED:,.0f} (1 = real time; faster "
            f"clocks reach times no event can hold), got {speed!r}"
        )
    return float(number)


def iso_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, as the v1 API writes its timestamps."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class SimClock:
    """API time for one simulator, read from the event loop's monotonic clock.

    ``now()`` is API seconds since the clock was made; ``iso(t)`` turns such a reading into a timestamp
    that starts at the wall-clock moment the simulator started, so event ``time`` fields look real and
    durations computed from them are API seconds whatever the speed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, speed: float = 1.0) -> None:
        self.loop = loop
        self.speed = check_speed(speed)
        self._loop_zero = loop.time()
        self._wall_zero = datetime.now(timezone.utc)
        self._context = contextvars.copy_context()

    def now(self) -> float:
        """API seconds since the simulator started."""
        return (self.loop.time() - self._loop_zero) * self.speed

    def iso(self, api_time: float | None = None) -> str:
        """The timestamp of ``api_time`` (default: now)."""
        at = self.now() if api_time is None else api_time
        return iso_time(self._wall_zero + timedelta(seconds=at))

    def api_time(self, timestamp: str) -> float:
        """The reading of :meth:`now` that :meth:`iso` writes as ``timestamp`` (to the millisecond)."""
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - self._wall_zero).total_seconds()

    def stamp_at(self, loop_time: float) -> str:
        """The timestamp this clock shows when the loop's clock reads ``loop_time`` (:meth:`loop_time`'s
        inverse, to the millisecond)."""
        return self.iso((loop_time - self._loop_zero) * self.speed)

    def loop_time(self, timestamp: str) -> float:
        """The loop's clock (``time.monotonic()``) when this clock shows ``timestamp``."""
        return self._loop_zero + self.api_time(timestamp) / self.speed

    def to_wall(self, api_seconds: float) -> float:
        """A span of API seconds in wall seconds."""
        return api_seconds / self.speed

    def call_at(self, api_time: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
        """Run ``callback(*args)`` on the loop when the API clock reaches ``api_time``.

        Every timer runs in the one context copied when the clock was made, rather than a copy of its
        own: a simulator holds a timer per waiting gather, and fewer live objects keep the garbage
        collector's passes (which stop every timer) short.
        """
        when = self._loop_zero + api_time / self.speed
        return self.loop.call_at(when, callback, *args, context=self._context)

    def call_later(
        self, api_seconds: float, callback: Callable[..., object], *args: Any
    ) -> asyncio.TimerHandle:
        """Run ``callback(*args)`` after ``api_seconds`` of API time."""
        return self.call_at(self.now() + api_seconds, callback, *args)
