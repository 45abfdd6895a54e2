"""Gather outcomes as tables, summaries and plots.

Everything here works on the events DataFrame of a session (``EventStore.to_dataframe()``: one row per
callback event, ``eventType``/``time``/``callId``/``gatherId``/``reason``/``digits``/…), live or simulated,
and optionally on the gathers table (``EventStore.gathers()``: one row per gather the toolkit created, with
``createdTime`` from the API's clock and the options that were sent). Synthetic campaigns
(:mod:`catapult_nb.campaign`) produce the same two frames, so the same functions apply to them.

The central piece is :func:`gather_table` — one row per gather. The summaries and plots accept either that
table or a raw events frame (they build the table themselves when given events).

Definitions used throughout:

* A gather is **finished** when its ``gather`` event arrived (it has a ``reason``). Gathers that are still
  running, or were stopped by the app (no event is sent then), appear in :func:`gather_table` with an empty
  reason and are left out of every summary.
* A gather is **completed** when the caller finished the entry: reason ``max-digits`` or
  ``terminating-digit``. ``inter-digit-timeout`` and ``hung-up`` are not completions — even a time-out that
  collected some digits, because the caller never confirmed them.
* **duration** is ``createdTime`` (the gather was created) → the ``gather`` event's ``time``, in API seconds
  (both come from the API's clock, so simulator speed does not matter). It needs the gathers table.
* **timeToFirstKey** is ``createdTime`` → the first key of the gather, in API seconds; it includes the prompt
  (keys may barge in). The first key is read from a ``firstKeyTime`` column when the events carry one
  (campaign data does), otherwise from the first ``dtmf`` event of the call inside the gather's window
  ``[createdTime, gather event time]``. With ``suppressDtmf`` true (the API default) there are no ``dtmf``
  events during a gather, so for live or simulated sessions it is NaN unless ``suppressDtmf`` was false.

Plots return :class:`matplotlib.figure.Figure` objects (a :class:`PlotFigure`) built without ``pyplot`` (no
global state, nothing is shown twice); a notebook displays a returned figure by itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from catapult_nb.engine import GatherSpec, Reason
from catapult_nb.options import SHOWN_FIELDS, GatherOptions, OptionError, flat_wire, nest_wire

__all__ = [
    "COMPLETED_REASONS",
    "OPTION_COLUMNS",
    "REASONS",
    "UNKNOWN_OPTIONS",
    "EventSource",
    "PlotFigure",
    "PromptComparison",
    "compare_prompts",
    "completion_rate",
    "describe_options",
    "digit_count_distribution",
    "gather_table",
    "plot_call_timeline",
    "plot_comparison",
    "plot_durations",
    "plot_reasons",
    "reason_counts",
    "timeout_rate_by_options",
]

#: The four reasons a ``gather`` event can carry, in the order tables and plots show them.
REASONS: tuple[str, ...] = tuple(reason.value for reason in Reason)

#: The ``optionSet`` of a gather whose create request is not in the data (e.g. imported callbacks only).
UNKNOWN_OPTIONS = "options unknown (no create request in the data)"

#: Reasons that count as a completed entry (see the module docstring).
COMPLETED_REASONS: frozenset[str] = frozenset(reason.value for reason in Reason if reason.completed)

#: Flattened option columns of the gathers table that :func:`gather_table` carries over (and any other
#: ``prompt.*``), as the option table shows them; ``tag`` has its own column.
OPTION_COLUMNS: tuple[str, ...] = tuple(f.wire for f in SHOWN_FIELDS if f.grouped)

_TIMEOUT = Reason.INTER_DIGIT_TIMEOUT.value
#: What an option set's label names first: the gather's own options, in the order the option table shows them.
_LABELLED = tuple(f.wire for f in SHOWN_FIELDS if f.grouped and not f.in_prompt)


# --------------------------------------------------------------------------------------------------
# The per-gather table


class EventSource(Protocol):
    """Where events and the gathers they belong to come from: an :class:`~catapult_nb.store.EventStore`,
    a :class:`~catapult_nb.session.Session` (its own events and gathers) or a campaign's result."""

    @property
    def events(self) -> pd.DataFrame: ...

    @property
    def gathers(self) -> Any: ...  # the gathers frame, or a method that gives it (a store's, a session's)


def gather_table(source: pd.DataFrame | EventSource, gathers: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per gather, indexed by ``gatherId``.

    ``gather_table(store)``, ``gather_table(session)`` (or ``session.gather_table()``) and
    ``gather_table(campaign_result)`` take the events and the gathers from the source;
    ``gather_table(events, gathers)`` takes two frames.

    :param source: an event source (a store, a session, a campaign's result), or the events DataFrame
        (``EventStore.to_dataframe()`` or a campaign's events). Only the ``gather`` rows and, for the time
        to the first key, the ``dtmf`` rows (or a ``firstKeyTime`` column) are used.
    :param gathers: the gathers table (``EventStore.gathers()`` or a campaign's gathers), when ``source``
        is a frame; a source's own gathers otherwise. Without it the table has no options, ``duration``
        or ``timeToFirstKey`` (those need ``createdTime``), and only gathers that finished are listed.
    :returns: columns ``callId``, ``optionSet`` (a readable label of the options, when ``gathers`` is given),
        the option columns present in ``gathers`` (``maxDigits``, ``interDigitTimeout``,
        ``terminatingDigits``, ``suppressDtmf``, ``prompt.*``), ``tag``, ``reason``, ``digits``,
        ``digitCount``, ``finished``, ``completed``, ``createdTime``, ``completedTime``,
        ``timeToFirstKey`` and ``duration`` (API seconds). Sorted by creation (else completion) time.
    :raises ValueError: when a frame lacks the columns needed (the message names them).
    :raises TypeError: for a source that is neither a frame nor has ``events`` and ``gathers``.
    """
    events, gathers = _frames_of(source, gathers)
    _require(events, ("eventType", "time", "gatherId"), "events")
    done = _gather_events(events)
    if gathers is not None:
        _require(gathers, ("gatherId",), "gathers")
        table = _with_requests(done, gathers)
    else:
        table = done
        table["createdTime"] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")

    table["digits"] = table["digits"].astype("string")
    table["digitCount"] = table["digits"].str.len().astype("Int64")
    table["finished"] = table["reason"].notna()
    table["completed"] = table["reason"].isin(COMPLETED_REASONS).astype(bool)
    table["duration"] = _seconds(table["completedTime"] - table["createdTime"])
    first_key = _first_key_times(events, table)
    table["timeToFirstKey"] = _seconds(first_key - table["createdTime"])

    order = table["createdTime"].fillna(table["completedTime"])
    table = table.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")
    option_columns = [c for c in table.columns if c in OPTION_COLUMNS or c.startswith("prompt.")]
    columns = ["callId"]
    columns += ["optionSet"] if "optionSet" in table.columns else []
    columns += option_columns
    columns += ["tag", "reason", "digits", "digitCount", "finished", "completed", "createdTime",
                "completedTime", "timeToFirstKey", "duration"]
    table = table[columns]
    table.index.name = "gatherId"
    return table



def _frames_of(
    source: pd.DataFrame | EventSource, gathers: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The events frame and the gathers frame a :func:`gather_table` source stands for."""
    if isinstance(source, pd.DataFrame):
        return source, gathers
    if not (hasattr(source, "events") and hasattr(source, "gathers")):
        raise TypeError(
            "gather_table takes an EventStore, a Session, a campaign's result or the events DataFrame, "
            f"got {type(source).__name__}"
        )
    events = source.events
    if gathers is None:
        own = source.gathers
        gathers = own() if callable(own) else own
    return events, gathers


def _gather_events(events: pd.DataFrame) -> pd.DataFrame:
    rows = events.loc[events["eventType"].astype("string") == "gather"]
    rows = rows.loc[rows["gatherId"].notna()]
    # The store keeps a retried delivery once; should a gather still report twice, its first word counts.
    rows = rows.sort_values("time", kind="stable").drop_duplicates("gatherId", keep="first")
    out = pd.DataFrame(index=pd.Index(rows["gatherId"].astype(str), name="gatherId"))
    for column in ("callId", "tag", "reason", "digits"):
        values = rows[column].to_numpy(dtype=object) if column in rows.columns else None
        out[column] = pd.Series(values, index=out.index, dtype="object")
    out["reason"] = out["reason"].astype("string")
    out["completedTime"] = _utc(rows["time"]).set_axis(out.index)
    return out


def _with_requests(done: pd.DataFrame, gathers: pd.DataFrame) -> pd.DataFrame:
    requested = gathers.drop_duplicates("gatherId", keep="first").set_index("gatherId")
    requested.index = requested.index.astype(str)
    # Only what was asked for comes from the gathers table; what happened comes from the events.
    carried = [c for c in requested.columns
               if c in ("createdTime", "options", "optionSet", *OPTION_COLUMNS) or c.startswith("prompt.")]
    table = done.join(requested[carried], how="outer")
    for column in ("callId", "tag"):
        if column in requested.columns:
            table[column] = table[column].fillna(requested[column].reindex(table.index))
    table["createdTime"] = (
        _utc(requested["createdTime"]).reindex(table.index)
        if "createdTime" in requested.columns
        else pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    )
    if "optionSet" not in table.columns:
        if "options" in requested.columns:
            labels = _labels(table["options"])
        else:
            labels = [describe_options(nest_wire(row)) for row in _option_rows(table)]
        table["optionSet"] = pd.Series(labels, index=table.index, dtype="string")
    # A gather whose create request is not in the data (imported callbacks): say so, never guess defaults.
    table["optionSet"] = table["optionSet"].astype("string").mask(~table.index.isin(requested.index),
                                                                  UNKNOWN_OPTIONS)
    return table


def _labels(options: pd.Series) -> list[Any]:
    """describe_options for each row, once per distinct option set (there are usually a handful)."""
    known: dict[str, str] = {}
    same: dict[int, str] = {}  # rows often share one dict object: skip even the JSON key then
    labels: list[Any] = []
    for item in options:
        if not isinstance(item, dict):
            labels.append(pd.NA)
        elif id(item) in same:
            labels.append(same[id(item)])
        else:
            key = json.dumps(item, sort_keys=True, default=str)
            if key not in known:
                known[key] = describe_options(item)
            same[id(item)] = known[key]
            labels.append(known[key])
    return labels


def _option_rows(table: pd.DataFrame) -> Iterable[dict[str, Any]]:
    columns = [c for c in table.columns if c in OPTION_COLUMNS or c.startswith("prompt.")]
    for values in table[columns].itertuples(index=False, name=None):
        yield {c: v for c, v in zip(columns, values, strict=True) if not _missing(v)}


def _first_key_times(events: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """The time of each gather's first key, NaT when it cannot be known (see the module docstring)."""
    first = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    if "firstKeyTime" in events.columns:
        rows = events.loc[events["eventType"].astype("string") == "gather"].dropna(subset=["gatherId"])
        carried = _utc(rows["firstKeyTime"]).set_axis(rows["gatherId"].astype(str))
        carried = carried[~carried.index.duplicated()].reindex(table.index)
        first = first.where(first.notna(), carried)
    if "dtmf" not in set(events["eventType"].astype("string").dropna()) or "callId" not in events.columns:
        return first
    keys = events.loc[events["eventType"].astype("string") == "dtmf", ["callId", "time"]].dropna()
    windows = table.loc[table["createdTime"].notna() & table["completedTime"].notna() & first.isna(),
                        ["callId", "createdTime", "completedTime"]].dropna()
    if keys.empty or windows.empty:
        return first
    keys = pd.DataFrame({"callId": keys["callId"].astype(str), "keyTime": _utc(keys["time"])})
    windows = windows.assign(callId=windows["callId"].astype(str), createdTime=_utc(windows["createdTime"]))
    # merge_asof wants both keys in the same resolution.
    keys["keyTime"] = keys["keyTime"].astype("datetime64[us, UTC]")
    windows["createdTime"] = windows["createdTime"].astype("datetime64[us, UTC]")
    found = pd.merge_asof(
        windows.reset_index().sort_values("createdTime"),
        keys.sort_values("keyTime"),
        left_on="createdTime", right_on="keyTime", by="callId", direction="forward",
    ).set_index("gatherId")
    inside = found["keyTime"].where(found["keyTime"] <= _utc(found["completedTime"]))
    return first.where(first.notna(), inside.reindex(table.index))


def describe_options(wire: dict[str, Any] | GatherOptions | None) -> str:
    """A short, canonical label for a set of gather options, used to group gathers by option set.

    Values given as strings or numbers label the same (``"5"`` and ``5``); ``tag`` is left out because it
    usually differs per gather. Options the API would reject are labelled from the raw JSON.

    >>> describe_options({"maxDigits": "5", "interDigitTimeout": 7, "prompt": {"sentence": "Hi"}})
    "maxDigits=5 interDigitTimeout=7 prompt.sentence='Hi'"
    """
    if wire is None:
        return "defaults"
    try:
        options = wire if isinstance(wire, GatherOptions) else GatherOptions.from_wire(wire)
    except OptionError:
        return json.dumps(wire, sort_keys=True, default=str)
    flat = flat_wire(options.to_wire(as_strings=False))
    parts = [f"{name}={str(flat[name]).lower() if isinstance(flat[name], bool) else flat[name]}"
             for name in _LABELLED if name in flat]
    parts += [f"{name}={value!r}" for name, value in flat.items() if name.startswith("prompt.")]  # as sent
    return " ".join(parts) or "defaults"


# --------------------------------------------------------------------------------------------------
# Summaries


def reason_counts(data: pd.DataFrame, *, normalize: bool = False) -> pd.Series:
    """How many finished gathers ended for each reason.

    :param data: a :func:`gather_table` or an events frame.
    :param normalize: give shares (summing to 1) instead of counts.
    :returns: a Series indexed by ``reason``: the four API reasons first (zeros included), then any other
        reason seen.
    """
    table = _as_table(data)
    reasons = table["reason"].dropna().astype(str)
    counts = reasons.value_counts()
    order = list(REASONS) + sorted(set(counts.index) - set(REASONS))
    counts = counts.reindex(order, fill_value=0).astype("int64")
    counts.index.name = "reason"
    if normalize:
        total = counts.sum()
        return (counts / total if total else counts.astype(float) * np.nan).rename("share")
    return counts.rename("gathers")


def completion_rate(data: pd.DataFrame) -> float:
    """The share of finished gathers that completed (``max-digits`` or ``terminating-digit``).

    Time-outs and hang-ups count against it; gathers without a ``gather`` event are left out.

    :param data: a :func:`gather_table` or an events frame.
    :returns: a number in [0, 1], or NaN when no gather has finished.
    """
    table = _as_table(data)
    finished = table.loc[table["finished"]]
    return float(finished["completed"].mean()) if len(finished) else float("nan")


def timeout_rate_by_options(data: pd.DataFrame, by: str | Sequence[str] = "optionSet") -> pd.DataFrame:
    """Outcomes of finished gathers grouped by the options they used.

    :param data: a :func:`gather_table` built with ``gathers=`` (or a campaign's table).
    :param by: the column(s) to group by: ``optionSet`` (the whole option set, the default) or single
        options such as ``interDigitTimeout``.
    :returns: one row per group with ``gathers``, ``timeouts``, ``timeoutRate``, ``completionRate``,
        ``hungUpRate``, ``medianDuration`` and ``medianTimeToFirstKey`` (API seconds).
    :raises ValueError: when a grouping column is missing (build the table with ``gathers=``).
    """
    table = _as_table(data)
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise ValueError(
            f"no column {', '.join(map(repr, missing))} to group by: build the table with "
            "gather_table(events, gathers) so it knows the options each gather used"
        )
    finished = table.loc[table["finished"]]
    grouped = finished.assign(
        _timeout=finished["reason"] == _TIMEOUT,
        _hung_up=finished["reason"] == Reason.HUNG_UP.value,
    ).groupby(keys, observed=True, dropna=False, sort=True)
    out = pd.DataFrame({
        "gathers": grouped.size(),
        "timeouts": grouped["_timeout"].sum().astype("int64"),
        "timeoutRate": grouped["_timeout"].mean(),
        "completionRate": grouped["completed"].mean(),
        "hungUpRate": grouped["_hung_up"].mean(),
        "medianDuration": grouped["duration"].median(),
        "medianTimeToFirstKey": grouped["timeToFirstKey"].median(),
    })
    return out


def digit_count_distribution(data: pd.DataFrame, *, normalize: bool = False) -> pd.Series:
    """How many finished gathers collected 0, 1, 2, … digits (every count up to the largest shown).

    :param data: a :func:`gather_table` or an events frame.
    :param normalize: give shares instead of counts.
    """
    table = _as_table(data)
    counts = table.loc[table["finished"], "digitCount"].dropna().astype("int64")
    top = int(counts.max()) if len(counts) else 0
    dist = counts.value_counts().reindex(range(top + 1), fill_value=0).astype("int64")
    dist.index.name = "digitCount"
    if normalize:
        total = dist.sum()
        return (dist / total if total else dist.astype(float) * np.nan).rename("share")
    return dist.rename("gathers")


# --------------------------------------------------------------------------------------------------
# Plots


def plot_reasons(data: pd.DataFrame, *, by: str | None = None, normalize: bool = False,
                 ax: Axes | None = None) -> Figure:
    """Bars of gather reasons; with ``by`` (e.g. ``"optionSet"``) one group of bars per value.

    :param data: a :func:`gather_table` or an events frame.
    :param by: a column of the gather table to split the bars by.
    :param normalize: plot shares instead of counts (useful when the groups differ in size).
    :param ax: draw into these axes (of a figure you made) instead of a new figure.
    """
    table = _as_table(data)
    fig, ax = _figure(ax)
    if by is None:
        counts = reason_counts(table, normalize=normalize)
        bars = ax.bar(counts.index, counts.to_numpy(), color=[_reason_color(r) for r in counts.index])
        ax.bar_label(bars, fmt="%.2f" if normalize else "%d")
    else:
        groups = [(key, reason_counts(part, normalize=normalize))
                  for key, part in table.loc[table["finished"]].groupby(by, observed=True, sort=True)]
        reasons = list(REASONS)
        for _, counts in groups:
            reasons += [r for r in counts.index if r not in reasons]
        width = 0.8 / max(len(groups), 1)
        x = np.arange(len(reasons))
        for i, (key, counts) in enumerate(groups):
            ax.bar(x + (i - (len(groups) - 1) / 2) * width, counts.reindex(reasons, fill_value=0).to_numpy(),
                   width, label=_short(key))
        ax.set_xticks(x, reasons)
        ax.legend(title=by, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=15)
    ax.set_xlabel("reason")
    ax.set_ylabel("share of gathers" if normalize else "gathers")
    ax.set_title("How gathers ended")
    return fig


def plot_durations(data: pd.DataFrame, *, column: str = "duration", by: str | None = None,
                   bins: int = 30, ax: Axes | None = None) -> Figure:
    """A histogram of gather durations (or of ``timeToFirstKey``), in API seconds.

    :param data: a :func:`gather_table` (built with ``gathers=``, which gives the durations) or events.
    :param column: ``"duration"`` or ``"timeToFirstKey"``.
    :param by: a column to draw one outlined histogram per value of (e.g. ``"optionSet"``).
    :param bins: the number of bins, shared by all groups.
    :param ax: draw into these axes (of a figure you made) instead of a new figure.
    :raises ValueError: when no row has a value in ``column``.
    """
    table = _as_table(data)
    if column not in table.columns:
        raise ValueError(f"no column {column!r}; use 'duration' or 'timeToFirstKey'")
    values = table[column].dropna()
    if values.empty:
        raise ValueError(
            f"no gather has a {column}: build the table with gather_table(events, gathers) — the durations "
            "start at each gather's createdTime"
            + (" — and time to first key needs dtmf events (suppressDtmf false) or campaign data"
               if column == "timeToFirstKey" else "")
        )
    edges = np.histogram_bin_edges(values.to_numpy(dtype=float), bins=bins)
    fig, ax = _figure(ax)
    if by is None:
        ax.hist(values.to_numpy(dtype=float), bins=edges.tolist(), color="#4c72b0")
    else:
        for key, part in table.dropna(subset=[column]).groupby(by, observed=True, sort=True):
            ax.hist(part[column].to_numpy(dtype=float), bins=edges.tolist(), histtype="step", linewidth=1.5,
                    label=_short(key))
        ax.legend(title=by, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xlabel(f"{'time to first key' if column == 'timeToFirstKey' else 'gather duration'} (API seconds)")
    ax.set_ylabel("gathers")
    ax.set_title(f"{'Time to first key' if column == 'timeToFirstKey' else 'Gather durations'}")
    return fig


def plot_call_timeline(events: pd.DataFrame, call_id: str, gathers: pd.DataFrame | None = None) -> Figure:
    """One call's events on a time axis (API seconds since the call's first event), one lane per type.

    Each marker is labelled with what matters for its type: the key of a ``dtmf`` event, the reason and
    digits of a ``gather`` event, the status of ``speak``/``playback``, the cause of a ``hangup``. With
    ``gathers``, each gather of the call is drawn as a bar from its creation to its event.

    :param events: the events DataFrame.
    :param call_id: the call to draw.
    :param gathers: optional gathers table, for the gather spans.
    :raises ValueError: when the frame has no events for ``call_id`` (the message lists some that exist).
    """
    _require(events, ("eventType", "time", "callId"), "events")
    rows = events.loc[events["callId"] == call_id].sort_values("time", kind="stable")
    if rows.empty:
        known = list(dict.fromkeys(events["callId"].dropna().astype(str)))[:5]
        raise ValueError(f"no events for call {call_id!r}; calls in this frame include: {', '.join(known)}")
    times = _utc(rows["time"])
    origin = times.min()
    x = _seconds(times - origin).to_numpy()
    kinds = rows["eventType"].astype(str).to_numpy()
    lanes = list(dict.fromkeys(kinds))
    y = np.array([lanes.index(k) for k in kinds])
    fig = PlotFigure(figsize=(8, 1.2 + 0.5 * len(lanes)), layout="constrained")
    ax = fig.add_subplot()
    if gathers is not None and len(gathers) and "callId" in gathers.columns:
        spans = gather_table(events, gathers)
        spans = spans.loc[(spans["callId"] == call_id) & spans["createdTime"].notna()]
        lane = lanes.index("gather") if "gather" in lanes else len(lanes) - 0.5
        for start, end in zip(spans["createdTime"], spans["completedTime"].fillna(times.max()), strict=True):
            begin = (start - origin).total_seconds()
            ax.barh(lane, (end - origin).total_seconds() - begin, left=begin, height=0.3, alpha=0.25,
                    color="#55a868")
    ax.scatter(x, y, zorder=3, color=[_event_color(k) for k in kinds])
    # Labels of events close together on one lane alternate above and below their markers.
    close = 0.04 * max(float(x.max()), 1e-9)
    last: dict[int, tuple[float, int]] = {}
    for xi, yi, label in zip(x, y, (_event_label(r) for r in rows.to_dict("records")), strict=True):
        if not label:
            continue
        previous_x, previous_dy = last.get(yi, (-np.inf, -12))
        dy = -12 if previous_dy == 7 and xi - previous_x < close else 7
        last[yi] = (xi, dy)
        ax.annotate(label, (xi, yi), xytext=(0, dy), textcoords="offset points", ha="center",
                    fontsize="small")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.set_xlabel("API seconds since the call's first event")
    ax.set_title(f"Call {call_id}")
    return fig


# --------------------------------------------------------------------------------------------------
# The prompt lab


class PromptComparison:
    """Prompts side by side: :attr:`table` (one row each) and :meth:`plot` (a bar chart); both show."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table  # words, seconds, wpm, firstUsefulKeyAt, timesOutAt, estimate, timing, voice

    def plot(self, ax: Axes | None = None) -> Figure:
        """One bar per prompt: the prompt's play, then the inter-digit wait of a caller who stays silent."""
        table = self.table
        fig: Figure
        if ax is None:
            fig = PlotFigure(figsize=(8, 1.6 + 0.55 * len(table)), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = cast(Figure, ax.get_figure(root=True))  # an Axes drawn on belongs to a figure
        y = np.arange(len(table))[::-1]
        ax.barh(y, table["seconds"], color="#4c72b0", label="prompt playing (keys barge in)")
        ax.barh(y, table["timesOutAt"] - table["seconds"], left=table["seconds"], color="#dd8452",
                alpha=0.45, label="inter-digit clock (a silent caller times out at its end)")
        for row, (_, item) in zip(y, table.iterrows(), strict=True):
            wpm = "" if _missing(item["wpm"]) else f" · {item['wpm']:.0f} wpm"
            ax.text(item["seconds"], row, f" {item['seconds']:.1f} s{wpm}", va="center", fontsize="small")
        ax.set_yticks(y, [_short(label, 36) for label in table.index])
        ax.set_xlabel("API seconds from the gather's creation")
        ax.set_title("Prompt length and when the first useful key can come")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)
        return fig

    def __repr__(self) -> str:
        return f"PromptComparison of {len(self.table)} prompts\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        import base64

        figure = self.plot()
        png = base64.b64encode(figure._repr_png_()).decode("ascii")  # type: ignore[attr-defined]
        table = self.table.to_html(float_format=lambda v: f"{v:.2f}", na_rep="—")
        return f"<div><b>Prompts compared</b>{table}<img src='data:image/png;base64,{png}'/></div>"


def compare_prompts(prompts: Sequence[Any] | dict[str, Any], *, timing: str = "audio") -> PromptComparison:
    """How long each prompt takes to say, and what that means for a caller.

    Each prompt is a sentence, a :class:`~catapult_nb.options.Prompt`, a wire dict or a
    :class:`~catapult_nb.options.GatherOptions` (then its inter-digit timeout is used, else the API's 5 s).

    Columns: ``words``; ``seconds`` (one play, measured as the simulator measures it: the rendered audio,
    or the file's real length); ``wpm``; ``firstUsefulKeyAt`` — when a caller who waits for the end of
    the prompt can first usefully press a key, which is also when the inter-digit clock starts;
    ``timesOutAt`` — when a caller who says nothing times out; ``estimate`` (the 150 words-per-minute rule);
    ``timing`` (``audio``, ``estimate`` or ``file``) and ``voice`` (the espeak-ng voice that spoke it).

    :param prompts: a list of prompts (labelled by their sentence) or ``{label: prompt}``.
    :param timing: ``"audio"`` (default) or ``"estimate"``, as for the simulator.
    :returns: a :class:`PromptComparison`; ``.table`` is the DataFrame, ``.plot()`` the bar chart.
    :raises ValueError: for no prompts, or two with the same label.
    """
    from catapult_nb import prompts as tts

    named = list(prompts.items()) if isinstance(prompts, dict) else [(None, p) for p in prompts]
    if not named:
        raise ValueError("compare_prompts needs at least one prompt")
    rows = []
    for label, item in named:
        options = item if isinstance(item, GatherOptions) else None
        fields = tts.prompt_fields(item)
        sentence, file_url = fields.get("sentence"), fields.get("file_url")
        length = tts.measure(item, timing)
        words = len(sentence.split()) if sentence and sentence.strip() else np.nan
        spec = GatherSpec.from_options(options or GatherOptions(), length.seconds)
        voice = ""
        if length.kind == "speak" and length.timing == "audio":
            voice = tts.resolve_voice(fields.get("voice"), fields.get("locale"), fields.get("gender")).engine
        rows.append({
            "prompt": str(label) if label is not None else _short(sentence or file_url or "(no prompt)", 60),
            "words": words,
            "seconds": length.seconds,
            "wpm": words / length.seconds * 60 if length.seconds and not _missing(words) else np.nan,
            "firstUsefulKeyAt": length.seconds,
            "timesOutAt": spec.no_key_timeout_at,
            "estimate": tts.estimate(sentence) if sentence else np.nan,
            "timing": f"file not played: {length.reason}" if length.timing == "file" and length.reason
            else length.timing,
            "voice": voice,
        })
    table = pd.DataFrame(rows).set_index("prompt")
    if table.index.duplicated().any():
        raise ValueError("two prompts have the same label: pass a dict {label: prompt} with distinct labels")
    return PromptComparison(table.astype({"words": "Float64"}).astype({"words": "Int64"}))


# --------------------------------------------------------------------------------------------------
# Helpers


def plot_comparison(gathers: pd.DataFrame, rates: pd.DataFrame, *,
                    order: Sequence[str] | None = None) -> Figure:
    """Option sets side by side: how gathers ended, time-out and completion rates, and time to complete.

    :param gathers: gather tables stacked, with an ``optionSet`` column (``Comparison.gather_table``).
    :param rates: one row per option set with ``timeoutRate`` and ``completionRate`` (``Comparison.table``).
    :param order: the option sets' order on the axes (default: as in ``rates``).
    :returns: a figure of three panels.
    """
    order = list(order) if order is not None else [str(name) for name in rates.index]
    gathers = gathers.assign(optionSet=pd.Categorical(gathers["optionSet"].astype(str), categories=order))
    fig = PlotFigure(figsize=(13, 4), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    plot_reasons(gathers, by="optionSet", normalize=True, ax=left)
    left.get_legend().remove()  # the same colours are named in the right-hand panel's legend
    left.set_title("How gathers ended (share)")
    x = np.arange(len(rates))
    middle.bar(x - 0.2, rates["timeoutRate"], 0.4, label="time-out", color=_REASON_COLORS[_TIMEOUT])
    middle.bar(x + 0.2, rates["completionRate"], 0.4, label="completed",
               color=_REASON_COLORS[Reason.MAX_DIGITS.value])
    middle.set_xticks(x, [_short(name, 18) for name in rates.index], rotation=15)
    middle.set_ylim(0, 1)
    middle.set_ylabel("share of callers")
    middle.legend(fontsize="small")
    middle.set_title("Time-outs and completions")
    completed = gathers.loc[gathers["completed"]]
    if completed["duration"].notna().any():
        plot_durations(completed, by="optionSet", bins=40, ax=right)
    right.set_title("Time to complete (completed gathers)")
    return fig


class PlotFigure(Figure):
    """A matplotlib ``Figure`` that shows itself in a notebook, without pyplot.

    The figures here are made without ``pyplot`` (no global state; nothing shown twice), so a kernel that
    never imported ``pyplot`` has no inline backend to draw them: this class renders itself to PNG.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _figure(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig = PlotFigure(figsize=(7, 3.5), layout="constrained")
    return fig, fig.add_subplot()


def _as_table(data: pd.DataFrame) -> pd.DataFrame:
    if "eventType" in data.columns:
        return gather_table(data)
    _require(data, ("reason", "finished", "completed"), "gather table")
    return data


def _require(frame: Any, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = {
            "events": "pass the events frame from EventStore.to_dataframe() or a campaign",
            "gathers": "pass the gathers frame from EventStore.gathers() or a campaign",
            "gather table": "pass gather_table(events, gathers) or the events frame itself",
        }[what]
        raise ValueError(f"the {what} frame has no column {', '.join(map(repr, missing))}: {hint}")


def _utc(values: pd.Series) -> pd.Series:
    # One resolution everywhere, so columns from different sources combine without casts.
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def _seconds(delta: pd.Series) -> pd.Series:
    return pd.to_timedelta(delta).dt.total_seconds()


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, dict, list)) and bool(pd.isna(value)))


def _short(key: Any, limit: int = 40) -> str:
    text = ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_REASON_COLORS = {Reason.MAX_DIGITS.value: "#55a868", Reason.TERMINATING_DIGIT.value: "#4c72b0",
                  Reason.INTER_DIGIT_TIMEOUT.value: "#dd8452", Reason.HUNG_UP.value: "#c44e52"}
_EVENT_COLORS = {"gather": "#55a868", "dtmf": "#4c72b0", "speak": "#8172b3", "playback": "#8172b3",
                 "hangup": "#c44e52", "answer": "#937860"}


def _reason_color(reason: str) -> str:
    return _REASON_COLORS.get(reason, "#8c8c8c")


def _event_color(kind: str) -> str:
    return _EVENT_COLORS.get(kind, "#8c8c8c")


def _event_label(row: dict[str, Any]) -> str:
    def get(name: str) -> str:
        value = row.get(name)
        return "" if _missing(value) else str(value)

    kind = get("eventType")
    if kind == "dtmf":
        return get("dtmfDigit")
    if kind == "gather":
        return f"{get('reason')} {get('digits')!r}"
    if kind in ("speak", "playback"):
        return get("status")
    if kind == "hangup":
        return get("cause")
    return ""
