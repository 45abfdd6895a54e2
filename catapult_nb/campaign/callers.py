"""Synthetic callers: kinds of caller with a few parameters, and mixes of them.

See ``docs/campaigns.md`` for the model.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from catapult_nb.options import DTMF_KEYS

if TYPE_CHECKING:
    from catapult_nb.campaign.fit import FittedGroups, FittedMix

__all__ = [
    "DEFAULT_CALLERS", "MAX_N", "Caller", "CallerMix", "check_float", "check_int", "coerce_callers", "mix",
]

#: The most callers a gather campaign takes: its call numbers and ids have room for this many (a flow
#: campaign takes 1,000,000, :data:`catapult_nb.campaign.flow_engine.MAX_N`).
MAX_N = 10_000_000


def check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high:,}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'above' if low_open else 'at least'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high:g}, got {value:g}")


@dataclass(frozen=True)
class Caller:
    """One kind of caller. Times are API seconds; every share is a probability in [0, 1].

    Presets: :meth:`typical`, :meth:`hesitant`, :meth:`overtyper`, :meth:`quitter`; change any parameter
    with keyword arguments (``Caller.typical(code_length=4)``) or :meth:`but`.

    :raises ValueError: for a parameter out of range (the message names it).
    """

    name: str = "caller"  # shown in the ``callerType`` column; unique within a mix
    code_length: int = 5  # digits the caller means to enter (1..30)
    first_key_median: float = 1.5  # typical wait after the prompt before the first key
    first_key_sigma: float = 0.5  # spread of that wait (lognormal shape; 0 = always the median)
    barge_in: float = 0.1  # share who start typing while the prompt still plays
    key_gap_median: float = 0.6  # typical time between two keys: the typing speed
    key_gap_sigma: float = 0.4  # spread of the gaps (lognormal shape)
    terminator_rate: float = 0.4  # share who end with a terminating key
    terminator: str | None = None  # that key; None = the gather's first terminating digit
    extra_keys_rate: float = 0.0  # share who press too many keys after the code
    extra_keys: int = 2  # how many too many
    hang_up_rate: float = 0.0  # share who hang up before finishing

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Caller name must be a non-empty string")
        check_int("code_length", self.code_length, 1, 30)
        check_int("extra_keys", self.extra_keys, 0, 30)
        for name in ("first_key_median", "key_gap_median"):
            check_float(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("first_key_sigma", "key_gap_sigma"):
            check_float(name, getattr(self, name), low=0.0, high=3.0)
        for name in ("barge_in", "terminator_rate", "extra_keys_rate", "hang_up_rate"):
            check_float(name, getattr(self, name), low=0.0, high=1.0)
        if self.terminator is not None and (
            not isinstance(self.terminator, str) or len(self.terminator) != 1
            or self.terminator.upper() not in DTMF_KEYS
        ):
            raise ValueError(
                f"Caller terminator must be one key of {DTMF_KEYS} or None, got {self.terminator!r}"
            )

    def but(self, **changes: Any) -> Caller:
        """A copy with some parameters changed."""
        return replace(self, **changes)

    @classmethod
    def typical(cls, **changes: Any) -> Caller:
        """Knows the code, types at a steady pace, sometimes confirms with the terminating key."""
        return cls(**{"name": "typical", **changes})

    @classmethod
    def hesitant(cls, **changes: Any) -> Caller:
        """Slow to start (looks for the code) and slow between keys; never barges in."""
        params: dict[str, Any] = dict(name="hesitant", first_key_median=5.0, first_key_sigma=0.5,
                                      barge_in=0.0, key_gap_median=1.8, key_gap_sigma=0.6,
                                      terminator_rate=0.2)
        return cls(**{**params, **changes})

    @classmethod
    def overtyper(cls, **changes: Any) -> Caller:
        """Fast, and often presses a couple of keys too many before confirming."""
        params: dict[str, Any] = dict(name="overtyper", first_key_median=0.8, barge_in=0.3,
                                      key_gap_median=0.35, key_gap_sigma=0.3, terminator_rate=0.7,
                                      extra_keys_rate=0.8, extra_keys=2)
        return cls(**{**params, **changes})

    @classmethod
    def quitter(cls, **changes: Any) -> Caller:
        """Usually hangs up before finishing."""
        params: dict[str, Any] = dict(name="quitter", first_key_median=2.5, key_gap_median=0.9,
                                      hang_up_rate=0.8)
        return cls(**{**params, **changes})


@dataclass(frozen=True)
class CallerMix:
    """Kinds of callers with weights (relative; they need not sum to 1). Build it with :func:`mix`."""

    parts: tuple[tuple[Caller, float], ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a caller mix needs at least one Caller")
        names = [caller.name for caller, _ in self.parts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two callers in the mix are both named {twice[0]!r}: give each a name=")
        for caller, weight in self.parts:
            if not isinstance(caller, Caller):
                raise TypeError(f"a caller mix holds Caller objects, got {type(caller).__name__}")
            check_float(f"the weight of {caller.name!r}", weight, low=0.0)
        if sum(w for _, w in self.parts) <= 0:
            raise ValueError("at least one caller in the mix needs a weight above 0")

    def __repr__(self) -> str:
        return "CallerMix(" + ", ".join(f"{name} {share:.0%}" for name, share in self.shares.items()) + ")"

    @classmethod
    def fit(cls, source: Any, by: str | None = None, **options: Any) -> FittedMix | FittedGroups:
        """Fit a mix to a log of finished gathers: how these callers behave, with intervals.

        ``CallerMix.fit(store)`` gives a :class:`~catapult_nb.campaign.fit.FittedMix` (use it as
        ``callers=`` of a campaign to forecast other options; ``.report()`` shows the estimates);
        ``by="tag"`` gives one per group. See :func:`~catapult_nb.campaign.fit.fit_callers` for the
        options and ``docs/fitting.md`` for the method.

        :param source: an ``EventStore``, a ``Session``, a campaign result or a gather table / events frame.
        :param by: a column to fit one mix per value of (e.g. ``"tag"``).
        :raises ValueError: for a log the fit cannot use (the message says what is missing).
        """
        # the fit sits above this module (it plays callers through the plans): imported when used
        from catapult_nb.campaign.fit import fit_callers

        return fit_callers(source, by, **options)

    @property
    def shares(self) -> dict[str, float]:
        """Each kind's share of the callers."""
        total = sum(w for _, w in self.parts)
        return {caller.name: w / total for caller, w in self.parts}

    def _repr_html_(self) -> str:
        names = [f.name for f in fields(Caller) if f.name != "name"]
        head = "".join(f"<th>{html.escape(n)}</th>" for n in ["caller", "share", *names])
        rows = "".join(
            "<tr>" + f"<td>{html.escape(c.name)}</td><td>{self.shares[c.name]:.0%}</td>"
            + "".join(f"<td>{html.escape(str(getattr(c, n)))}</td>" for n in names) + "</tr>"
            for c, _ in self.parts
        )
        return f"<div><b>CallerMix</b><table><tr>{head}</tr>{rows}</table></div>"


def mix(*callers: Caller | tuple[Caller, float], **weights: float) -> CallerMix:
    """Blend caller kinds: ``mix((Caller.typical(), 0.8), (Caller.hesitant(), 0.2))``.

    A bare ``Caller`` has weight 1. ``weights`` may set weights by caller name instead:
    ``mix(Caller.typical(), Caller.quitter(), quitter=0.1)``.
    """
    parts: list[tuple[Caller, float]] = []
    for item in callers:
        caller, weight = (item, 1.0) if isinstance(item, Caller) else item
        parts.append((caller, float(weights.pop(caller.name, weight))))
    if weights:
        raise ValueError(f"no caller named {next(iter(weights))!r} in this mix")
    return CallerMix(tuple(parts))


#: The callers used when none are given: mostly typical, some hesitant, a few over-typers and quitters.
DEFAULT_CALLERS = mix(
    (Caller.typical(), 0.70), (Caller.hesitant(), 0.15), (Caller.overtyper(), 0.10), (Caller.quitter(), 0.05)
)


def coerce_callers(callers: Any) -> CallerMix:
    if callers is None:
        return DEFAULT_CALLERS
    if isinstance(callers, CallerMix):
        return callers
    if isinstance(callers, Caller):
        return CallerMix(((callers, 1.0),))
    if isinstance(callers, Mapping):
        return CallerMix(tuple((c, float(w)) for c, w in callers.items()))
    if isinstance(callers, Sequence) and not isinstance(callers, str):
        return mix(*callers)
    raise TypeError(
        f"callers must be a Caller, a CallerMix (see mix()), a {{Caller: weight}} dict or a list, "
        f"got {type(callers).__name__}"
    )
