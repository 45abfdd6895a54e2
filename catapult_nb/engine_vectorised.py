"""The gather engine run for many callers at once, with NumPy arrays instead of a loop per caller.

:func:`play` takes every caller's key presses as one ``(n, width)`` matrix of times and one of keys, with
each caller's press count and hang-up time, and returns what :func:`catapult_nb.engine.run_gather`
returns for each of them: reason, digit count, time of the first key and time of the end. It follows the
engine's rules exactly (keys first, then a hang-up, then timers; the inter-digit clock armed when the
prompt's first play ends or at a key; every prompt bargeable), so for a single gather a caller's whole
timeline reduces to one question: which press (or the hang-up, or the last timer) ends the gather first.
A property test checks it against the event-driven engine caller by caller.

Both dialects' rules (:data:`catapult_nb.engine.DIALECTS`) play here as in the scalar engine: on v2 the first
key may come until the last replay's ``firstDigitTimeout`` has run out (the prompt's replays in between
change what the caller hears, not when the gather ends), and a hang-up's code still says ``hung-up`` (v2
sends no gather result for it: see :func:`has_result`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from catapult_nb.engine import GatherSpec, Reason

__all__ = ["REASONS", "VectorOutcome", "digit_strings", "has_result", "play", "terminating_keys"]

#: The reasons in the order of :attr:`VectorOutcome.reason` codes.
REASONS: tuple[Reason, ...] = (
    Reason.MAX_DIGITS,
    Reason.TERMINATING_DIGIT,
    Reason.INTER_DIGIT_TIMEOUT,
    Reason.HUNG_UP,
)
_MAX, _TERM, _TIMEOUT, _HUNG = range(4)


class VectorOutcome(NamedTuple):
    """Per caller: the reason code (index into :data:`REASONS`), how many keys were gathered (a prefix of
    the caller's keys), the time of the first key (NaN when none was taken) and when the gather ended."""

    reason: np.ndarray  # int8
    n_digits: np.ndarray  # int64
    first_key_at: np.ndarray  # float64, NaN for none
    completed_at: np.ndarray  # float64


def play(
    spec: GatherSpec, times: np.ndarray, keys: np.ndarray, count: np.ndarray, hang_up: np.ndarray,
    prompt_seconds: np.ndarray | None = None,
) -> VectorOutcome:
    """Run one gather (started at 0) for every caller, as :func:`~catapult_nb.engine.run_gather` would.

    :param spec: the gather's resolved options.
    :param times: ``(n, width)`` float64 press times in API seconds, non-decreasing along each row; only
        the first ``count[i]`` of row ``i`` are pressed.
    :param keys: ``(n, width)`` uint8 ASCII codes of the keys (upper case), aligned with ``times``.
    :param count: ``(n,)`` presses per caller (0 … width).
    :param hang_up: ``(n,)`` hang-up times, NaN for a caller who does not hang up.
    :param prompt_seconds: ``(n,)`` each caller's prompt length, when the callers heard prompts of
        different lengths (a sentence with their own digits read back); None: ``spec.prompt_seconds``.
    :returns: a :class:`VectorOutcome` of ``(n,)`` arrays.
    """
    times = np.asarray(times, dtype=np.float64)
    n, width = times.shape
    count = np.asarray(count, dtype=np.int64)
    hang_up = np.asarray(hang_up, dtype=np.float64)
    timeout = spec.inter_digit_timeout
    # the deadline before each press: the prompt's plays and first-key waits, or one timeout after the
    # previous key (a key cancels the prompt's end)
    prompt = spec.prompt_seconds if prompt_seconds is None else np.asarray(prompt_seconds, dtype=np.float64)
    start_idle = prompt + spec.first_key_timeout
    for _ in range(spec.repeat_count - 1):  # added up play by play, as the scalar engine does
        start_idle = start_idle + prompt + spec.first_key_timeout
    deadline = np.empty((n, width + 1), dtype=np.float64)
    deadline[:, 0] = start_idle
    deadline[:, 1:] = times + timeout
    cols = np.arange(width)
    pressed = cols[None, :] < count[:, None]
    has_hang = ~np.isnan(hang_up)
    hang_first = has_hang[:, None] & (hang_up[:, None] < times) & pressed  # keys win ties
    timed_out = (deadline[:, :width] < times) & pressed  # a gap equal to the timeout is accepted
    terminator = np.isin(keys, np.frombuffer(spec.terminating_digits.encode("ascii"), dtype=np.uint8))
    ends_here = (terminator | (cols + 1 >= spec.max_digits)[None, :]) & pressed
    stops = hang_first | timed_out | ends_here
    stopped = stops.any(axis=1)
    step = np.where(stopped, stops.argmax(axis=1), count)  # the press at which the gather ends
    rows = np.arange(n)
    at = np.minimum(step, width - 1) if width else np.zeros(n, dtype=np.int64)
    inside = step < count
    press_time = times[rows, at] if width else np.zeros(n)
    due = deadline[rows, step]  # past the last press: one timeout after it (or after the prompt)
    by_hang = np.where(inside, hang_first[rows, at], has_hang) if width else has_hang
    by_timer = np.where(inside, timed_out[rows, at], ~has_hang) if width else ~has_hang
    by_terminator = inside & terminator[rows, at] if width else np.zeros(n, dtype=bool)
    hang_time = np.maximum(hang_up, 0.0)  # a hang-up is taken at the gather's start at the earliest
    timer_before_hang = due < hang_time
    reason = np.select(
        [by_hang & timer_before_hang, by_hang, by_timer, by_terminator],
        [_TIMEOUT, _HUNG, _TIMEOUT, _TERM],
        _MAX,
    ).astype(np.int8)
    completed_at = np.select(
        [reason == _HUNG, reason == _TIMEOUT], [hang_time, due], press_time
    )
    taken = np.where((reason == _MAX) | (reason == _TERM), step + 1, step)  # keys taken, terminator too
    n_digits = np.where(reason == _TERM, step, taken)
    first_key_at = np.where(taken > 0, times[:, 0] if width else np.nan, np.nan)
    return VectorOutcome(reason, n_digits.astype(np.int64), first_key_at, completed_at)


def terminating_keys(keys: np.ndarray, outcome: VectorOutcome) -> np.ndarray:
    """The key that ended each gather (v2's ``terminatingDigit``): a ``str`` array, ``""`` where none did.

    :param keys: the ``(n, width)`` key matrix given to :func:`play`.
    :param outcome: what :func:`play` returned for it.
    """
    n = len(outcome.reason)
    ended = outcome.reason == REASONS.index(Reason.TERMINATING_DIGIT)
    out = np.full(n, "", dtype="U1")
    if ended.any():
        rows = np.flatnonzero(ended)
        out[rows] = keys[rows, outcome.n_digits[rows]].astype(np.uint8).view("S1").astype("U1")
    return out


def has_result(spec: GatherSpec, outcome: VectorOutcome) -> np.ndarray:
    """Per caller, whether the gather sent a result: always on v1, not after a hang-up on v2."""
    if spec.rules.hang_up_result:
        return np.ones(len(outcome.reason), dtype=bool)
    return np.asarray(outcome.reason != _HUNG, dtype=bool)


def digit_strings(keys: np.ndarray, n_digits: np.ndarray) -> np.ndarray:
    """Each row's first ``n_digits`` keys as one string: a NumPy ``str`` array, built without a loop.

    :param keys: ``(n, width)`` uint8 ASCII key codes (never 0).
    :param n_digits: ``(n,)`` prefix lengths.
    :returns: an ``(n,)`` array of ``str`` (``""`` for a length of 0).
    """
    n, width = keys.shape
    if width == 0:
        return np.full(n, "", dtype="U1")
    kept = np.where(np.arange(width)[None, :] < np.asarray(n_digits)[:, None], keys, 0).astype(np.uint8)
    return np.ascontiguousarray(kept).view(f"S{width}").ravel().astype(f"U{width}")
