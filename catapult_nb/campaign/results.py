"""A campaign's outcome: frames shaped like a session's, their summary, and option sets side by side."""

from __future__ import annotations

import functools
import html
import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from catapult_nb import analysis
from catapult_nb.campaign.callers import CallerMix
from catapult_nb.engine import Reason
from catapult_nb.options import GatherOptions, flat_wire
from catapult_nb.store.store import Payload, events_frame

__all__ = [
    "CAMPAIGN_EPOCH", "CampaignComparison", "CampaignResult", "Comparison", "campaign_id_arrays",
    "engine_result",
]

#: When the first synthetic gather is created; the k-th one is created k API seconds later.
CAMPAIGN_EPOCH = pd.Timestamp("2026-01-01T00:00:00Z")


@dataclass
class CampaignResult:
    """A campaign's outcome: ``events`` and ``gathers`` frames shaped like a session's.

    ``events, gathers = result`` unpacks them; :attr:`table` is their :func:`analysis.gather_table`.
    """

    events: pd.DataFrame
    gathers: pd.DataFrame
    options: GatherOptions
    label: str  # the option set's name (``optionSet`` column)
    seed: int
    mode: str = "engine"  # "engine" or "wire"
    margin: float = 0.0  # the safety margin the timelines were built with (API seconds)
    #: with fitted callers: completed / timed-out / hung-up shares with intervals (``share``, ``low``,
    #: ``high``)
    forecast: pd.DataFrame | None = None
    _table: pd.DataFrame | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.events
        yield self.gathers

    @property
    def table(self) -> pd.DataFrame:
        """One row per gather (:func:`analysis.gather_table`), with ``caller``/``callerType``/``intended``
        and ``correct`` (completed with exactly the intended code)."""
        if self._table is None:
            table = analysis.gather_table(self.events, self.gathers)
            extra = self.events.loc[self.events["eventType"] == "gather"].drop_duplicates("gatherId")
            extra = extra.set_index(extra["gatherId"].astype(str))[["caller", "callerType", "intended"]]
            table = table.join(extra)
            table["correct"] = table["completed"] & (table["digits"] == table["intended"]).fillna(False)
            self._table = table
        return self._table

    def agreement(self, other: CampaignResult) -> pd.DataFrame:
        """Caller by caller, this result's reason and digits beside ``other``'s (e.g. wire vs engine).

        :returns: one row per caller with ``reason``/``digits`` of each side (suffixes ``_self`` and
            ``_other``) and ``agrees``.
        """
        mine = self.table.set_index("caller")[["reason", "digits"]].astype("string")
        theirs = other.table.set_index("caller")[["reason", "digits"]].astype("string")
        # merge on the index: its suffixes read the same in pandas 2 and 3 (join's changed names)
        both = pd.merge(mine, theirs, how="outer", left_index=True, right_index=True,
                        suffixes=("_self", "_other")).sort_index()
        both["agrees"] = ((both["reason_self"] == both["reason_other"])
                          & (both["digits_self"] == both["digits_other"])).fillna(False).astype(bool)
        return both

    def summary(self) -> pd.Series:
        """Completion and time-out rates, median duration and time to first key, share correct."""
        table = self.table
        finished = table.loc[table["finished"]]
        return pd.Series({
            "callers": len(table),
            "completionRate": analysis.completion_rate(table),
            "timeoutRate": float((finished["reason"] == Reason.INTER_DIGIT_TIMEOUT.value).mean()),
            "hungUpRate": float((finished["reason"] == Reason.HUNG_UP.value).mean()),
            "correctRate": float(finished["correct"].mean()),
            "medianDuration": float(finished["duration"].median()),
            "medianTimeToFirstKey": float(finished["timeToFirstKey"].median()),
        }, name=self.label)

    def __repr__(self) -> str:
        s = self.summary()
        text = (f"CampaignResult({self.label!r}, callers={int(s['callers'])}, mode={self.mode!r}, "
                f"completed={s['completionRate']:.1%}, timeouts={s['timeoutRate']:.1%}, seed={self.seed})")
        if self.forecast is not None:
            text += "\nforecast: " + ", ".join(
                f"{name} {row.share:.1%} [{row.low:.1%}–{row.high:.1%}]"
                for name, row in self.forecast.iterrows())
        return text

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(str(k), v)}</td></tr>" for k, v in s.items()
        )
        forecast = "" if self.forecast is None else (
            "<b>Forecast</b> (intervals from the fit's bootstrap refits)" + self.forecast.to_html(
                formatters={c: (lambda v: f"{v:.1%}") for c in self.forecast.columns}))
        return (f"<div><b>Campaign</b> {html.escape(self.label)} ({self.mode}, seed {self.seed})"
                f"<table>{rows}</table>{forecast}</div>")


def _fmt(key: str, value: float) -> str:
    if key == "callers":
        return f"{int(value):,}"
    if key.endswith("Rate"):
        return f"{value:.1%}"
    return f"{value:.2f} s"


#: The type of the results a comparison holds (:class:`CampaignResult`, or a flow campaign's result).
T = TypeVar("T")


class CampaignComparison(ABC, Generic[T]):
    """The one shape of a comparison, of option sets (:class:`Comparison`) or of flows
    (:class:`~catapult_nb.campaign.FlowComparison`): the same callers through each, side by side.

    ``results`` holds each campaign's result by label, in the order given; :meth:`shares` says how the
    callers ended, :attr:`table` gives each variant's figures, :meth:`plot` draws them, and the repr
    prints the table.
    """

    results: dict[str, T]
    #: what is compared, in words ("option sets", "flows")
    compared: ClassVar[str] = "variants"

    @abstractmethod
    def shares(self) -> pd.DataFrame:
        """How the callers ended, as shares of each variant's callers: one row per variant (by label),
        one column per way of ending."""

    @property
    @abstractmethod
    def table(self) -> pd.DataFrame:
        """One row per variant (by label, in the order given): its callers and headline figures."""

    @abstractmethod
    def plot(self) -> Figure:
        """The variants side by side in one figure."""

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, label: str) -> T:
        """One variant's campaign result."""
        return self.results[label]

    def __repr__(self) -> str:
        return f"{type(self).__name__} of {len(self.results)} {self.compared}\n{self.table.to_string()}"


@dataclass(repr=False)
class Comparison(CampaignComparison[CampaignResult]):
    """Several option sets played by the same callers (same seed): outcomes side by side."""

    results: dict[str, CampaignResult]
    compared: ClassVar[str] = "option sets"

    def shares(self) -> pd.DataFrame:
        """How each option set's gathers ended (``reason``), as shares of its finished gathers."""
        rows = {name: analysis.reason_counts(result.table, normalize=True)
                for name, result in self.results.items()}
        return pd.DataFrame(rows).T.rename_axis("optionSet")

    @property
    def table(self) -> pd.DataFrame:
        """One row per option set, in the order given: rates, medians (API seconds), share correct."""
        rows = {name: result.summary() for name, result in self.results.items()}
        return pd.DataFrame(rows).T.rename_axis("optionSet").astype({"callers": "int64"})

    @property
    def gather_table(self) -> pd.DataFrame:
        """Every option set's :attr:`CampaignResult.table`, stacked (``optionSet`` tells them apart)."""
        return pd.concat([r.table for r in self.results.values()])

    def plot(self) -> Figure:
        """Three panels: how gathers ended, time-out and completion rates, and time to complete
        (:func:`analysis.plot_comparison`)."""
        return analysis.plot_comparison(self.gather_table, self.table, order=list(self.results))

    def _repr_html_(self) -> str:
        return "<div><b>Comparison</b>" + _styled(self.table) + "</div>"


def _styled(table: pd.DataFrame) -> str:
    formatters = {c: (lambda v: f"{v:.1%}") for c in table.columns if c.endswith("Rate")}
    formatters |= {c: (lambda v: f"{v:.2f} s") for c in table.columns if c.startswith("median")}
    return table.to_html(formatters=formatters)


def campaign_id_arrays(label: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The call and gather ids of ``n`` callers (``c-syn<tag>0000000`` …) as NumPy ``str`` arrays."""
    tag = f"{zlib.crc32(label.encode()):08x}"[:6]  # keeps ids of different option sets apart
    numbers = np.char.zfill(np.arange(n).astype("U8"), 7)
    return np.char.add(f"c-syn{tag}", numbers), np.char.add(f"gtr-syn{tag}", numbers)


def engine_result(options: GatherOptions, callers: CallerMix, label: str, seed: int,
                  ids: tuple[np.ndarray, np.ndarray], reasons: np.ndarray, digits: np.ndarray,
                  first_keys: np.ndarray, ends: np.ndarray, intended: np.ndarray, kind: np.ndarray,
                  *, mode: str) -> CampaignResult:
    """The frames of an engine run; ``reasons`` index :data:`analysis.REASONS`, times are API seconds."""
    call_ids, gather_ids = ids
    n = len(call_ids)
    created = CAMPAIGN_EPOCH + pd.to_timedelta(np.arange(n, dtype=float), unit="s")
    created = pd.DatetimeIndex(created).as_unit("us")
    ended = created + pd.to_timedelta(np.asarray(ends, dtype=float), unit="s")
    first = created + pd.to_timedelta(np.asarray(first_keys, dtype=float), unit="s")
    names = [c.name for c, _ in callers.parts]
    events = _events_frame(options, call_ids, gather_ids, reasons, digits, ended, first)
    events["caller"] = np.arange(n)
    events["callerType"] = pd.Categorical.from_codes(kind, categories=pd.Index(names))
    events["intended"] = pd.array(intended, dtype="string")
    gathers = _gathers_frame(options, label, call_ids, gather_ids, created)
    return CampaignResult(events, gathers, options, label, seed, mode)


def _constant(value: str, n: int) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([value]))


class _GatherPayloads:
    """The payloads of a campaign's gather events, spelled out from the frame's columns when looked at."""

    def __init__(self, reasons: pd.Categorical[str], digits: np.ndarray, call_ids: np.ndarray,
                 gather_ids: np.ndarray, tag: str | None) -> None:
        self._columns = (reasons, digits, call_ids, gather_ids)
        self._tag = tag

    def text(self, event_id: int) -> str:
        reasons, digits, call_ids, gather_ids = self._columns
        payload = {"eventType": "gather", "reason": reasons[event_id], "state": "completed",
                   "digits": str(digits[event_id]), "callId": str(call_ids[event_id]),
                   "gatherId": str(gather_ids[event_id])}
        if self._tag is not None:
            payload["tag"] = self._tag
        return json.dumps(payload)


def _events_frame(options: GatherOptions, call_ids: np.ndarray, gather_ids: np.ndarray, reasons: np.ndarray,
                  digits: np.ndarray, ended: pd.DatetimeIndex, first: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(call_ids)
    reason = pd.Categorical.from_codes(reasons, categories=pd.Index(analysis.REASONS))
    # read-only mappings made when looked at, like the store's frames: no million dicts up front
    texts = _GatherPayloads(reason, digits, call_ids, gather_ids, options.tag)
    make = np.frompyfunc(functools.partial(Payload, texts), 1, 1)
    events = events_frame({
        "eventType": _constant("gather", n),
        "time": ended,
        "callId": call_ids,
        "gatherId": gather_ids,
        "reason": reason,
        "state": _constant("completed", n),
        "digits": digits,
        "tag": np.full(n, options.tag, dtype=object),
        "received": ended,
        "source": _constant("campaign", n),
        "payload": make(np.arange(n).astype(object)) if n else np.empty(0, dtype=object),
    }, index=pd.RangeIndex(1, n + 1, name="id"))
    events["firstKeyTime"] = first
    return events


def _gathers_frame(options: GatherOptions, label: str, call_ids: np.ndarray, gather_ids: np.ndarray,
                   created: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(call_ids)
    wire = options.to_wire(as_strings=False)
    frame = pd.DataFrame({"gatherId": pd.array(gather_ids, dtype="string"),
                          "callId": pd.array(call_ids, dtype="string"), "createdTime": created})
    # one shared dict: the same options for every caller
    frame["options"] = pd.Series([wire] * n, index=frame.index, dtype=object)
    for name, value in flat_wire(wire).items():
        frame[name] = [value] * n
    frame["optionSet"] = _constant(label, n)
    return frame
