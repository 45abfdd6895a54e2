"""Plots of gather outcomes: how gathers ended, how long they took, one call's timeline, option sets
side by side. Each returns a :class:`PlotFigure` built without ``pyplot`` (no global state, nothing
shown twice); a notebook displays a returned figure by itself.
"""

from __future__ import annotations

import io
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from catapult_nb.analysis.sql import TABLE_VIEW, finished_counts, histogram, value_range
from catapult_nb.analysis.tables import (
    REASONS,
    TIMEOUT,
    _in_reason_order,
    as_gather_table,
    gather_table,
    gather_view,
    in_duckdb,
    is_missing,
    reason_counts,
    require_columns,
    seconds_of,
    short_label,
    utc_times,
)
from catapult_nb.engine import Reason

__all__ = ["PlotFigure", "plot_call_timeline", "plot_comparison", "plot_durations", "plot_reasons"]


def plot_reasons(data: pd.DataFrame, *, by: str | None = None, normalize: bool = False,
                 ax: Axes | None = None) -> Figure:
    """Bars of gather reasons; with ``by`` (e.g. ``"optionSet"``) one group of bars per value.

    :param data: a :func:`gather_table` or an events frame.
    :param by: a column of the gather table to split the bars by.
    :param normalize: plot shares instead of counts (useful when the groups differ in size).
    :param ax: draw into these axes (of a figure you made) instead of a new figure.
    """
    fig, ax = _figure(ax)
    if by is None:
        counts = reason_counts(data, normalize=normalize)
        x = np.arange(len(counts))
        bars = ax.bar(x, counts.to_numpy(), color=[_reason_color(r) for r in counts.index])
        ax.set_xticks(x, [_wrapped(str(r)) for r in counts.index])
        ax.bar_label(bars, fmt="%.2f" if normalize else "%d")
    else:
        groups = [(key, _in_reason_order(part, normalize)) for key, part in _reasons_by(data, by)]
        reasons = list(REASONS)
        for _, counts in groups:
            reasons += [r for r in counts.index if r not in reasons]
        width = 0.8 / max(len(groups), 1)
        x = np.arange(len(reasons))
        for i, (key, counts) in enumerate(groups):
            ax.bar(x + (i - (len(groups) - 1) / 2) * width, counts.reindex(reasons, fill_value=0).to_numpy(),
                   width, label=short_label(key))
        ax.set_xticks(x, [_wrapped(r) for r in reasons])
        ax.legend(title=by, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelsize="small")  # 8.3 pt: four wrapped reasons fit a third of a wide figure
    ax.set_xlabel("reason")
    ax.set_ylabel("share of gathers" if normalize else "gathers")
    ax.set_title("How gathers ended")
    return fig


def _reasons_by(data: Any, by: str) -> list[tuple[Any, pd.Series]]:
    """The finished gathers' counts by reason for each value of ``by``, in its order; counted in DuckDB
    for a folder (a row a group and reason comes back)."""
    if in_duckdb(data):
        with gather_view(data) as con:
            rows = finished_counts(con, [by, "reason"])
        return [(key, pd.Series(part["n"].to_numpy(), index=part["reason"].astype(str).to_numpy()))
                for key, part in rows.groupby(by, sort=True)]
    table = as_gather_table(data)
    return [(key, part["reason"].dropna().astype(str).value_counts())
            for key, part in table.loc[table["finished"]].groupby(by, observed=True, sort=True)]


def _wrapped(reason: str) -> str:
    # Long reasons break at their last hyphen: side by side, "inter-digit-timeout" ran into "hung-up".
    head, dash, tail = reason.rpartition("-")
    return f"{head}-\n{tail}" if dash and len(reason) > 10 else reason


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
    edges, counts = _histograms(data, column, by, bins)
    fig, ax = _figure(ax)
    if by is None:
        ax.hist(edges[:-1], bins=edges.tolist(), weights=counts[0][1], color="#4c72b0")
    else:
        for key, heights in counts:
            ax.hist(edges[:-1], bins=edges.tolist(), weights=heights, histtype="step", linewidth=1.5,
                    label=short_label(key))
        ax.legend(title=by, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_xlabel(f"{'time to first key' if column == 'timeToFirstKey' else 'gather duration'} (API seconds)")
    ax.set_ylabel("gathers")
    ax.set_title(f"{'Time to first key' if column == 'timeToFirstKey' else 'Gather durations'}")
    return fig


def _histograms(data: Any, column: str, by: str | None, bins: int
                ) -> tuple[np.ndarray, list[tuple[Any, np.ndarray]]]:
    """The bins' edges (over every value of ``column``) and the counts in them, for all the rows (``by``
    None) or for each value of ``by``; binned in DuckDB for a folder (the bins come back, not the rows)."""
    if in_duckdb(data) and isinstance(bins, int):
        with gather_view(data) as con:
            _has_column(con.sql(f"SELECT * FROM {TABLE_VIEW}").columns, column)
            span = value_range(con, column)
            _has_values(span is not None, column)
            edges = np.histogram_bin_edges(np.asarray(span, dtype=float), bins=bins)  # from min and max only
            rows = histogram(con, column, edges.tolist(), by)

        def heights(part: pd.DataFrame) -> np.ndarray:
            return np.bincount(part["bin"].to_numpy(), weights=part["n"].to_numpy(), minlength=len(edges) - 1)

        if by is None:
            return edges, [(None, heights(rows))]
        return edges, [(key, heights(part)) for key, part in rows.groupby(by, sort=True)]
    table = as_gather_table(data)
    _has_column(table.columns, column)
    values = table[column].dropna()
    _has_values(not values.empty, column)
    edges = np.histogram_bin_edges(values.to_numpy(dtype=float), bins=bins)
    if by is None:
        return edges, [(None, np.histogram(values.to_numpy(dtype=float), bins=edges)[0])]
    return edges, [(key, np.histogram(part[column].to_numpy(dtype=float), bins=edges)[0])
                   for key, part in table.dropna(subset=[column]).groupby(by, observed=True, sort=True)]


def _has_column(columns: Any, column: str) -> None:
    if column not in set(columns):
        raise ValueError(f"no column {column!r}; use 'duration' or 'timeToFirstKey'")


def _has_values(present: bool, column: str) -> None:
    if not present:
        raise ValueError(
            f"no gather has a {column}: build the table with gather_table(events, gathers) — the durations "
            "start at each gather's createdTime"
            + (" — and time to first key needs dtmf events (suppressDtmf false) or campaign data"
               if column == "timeToFirstKey" else "")
        )


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
    require_columns(events, ("eventType", "time", "callId"), "events")
    rows = events.loc[events["callId"] == call_id].sort_values("time", kind="stable")
    if rows.empty:
        known = list(dict.fromkeys(events["callId"].dropna().astype(str)))[:5]
        raise ValueError(f"no events for call {call_id!r}; calls in this frame include: {', '.join(known)}")
    times = utc_times(rows["time"])
    origin = times.min()
    x = seconds_of(times - origin).to_numpy()
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
    middle.bar(x - 0.2, rates["timeoutRate"], 0.4, label="time-out", color=_REASON_COLORS[TIMEOUT])
    middle.bar(x + 0.2, rates["completionRate"], 0.4, label="completed",
               color=_REASON_COLORS[Reason.MAX_DIGITS.value])
    middle.set_xticks(x, [short_label(name, 18) for name in rates.index], rotation=15)
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


_REASON_COLORS = {Reason.MAX_DIGITS.value: "#55a868", Reason.TERMINATING_DIGIT.value: "#4c72b0",
                  Reason.INTER_DIGIT_TIMEOUT.value: "#dd8452", Reason.HUNG_UP.value: "#c44e52"}


_EVENT_COLORS = {"gather": "#55a868", "dtmf": "#4c72b0", "speak": "#8172b3", "playback": "#8172b3",
                 "hangup": "#c44e52", "answer": "#937860"}


def _reason_color(reason: str) -> str:
    return _REASON_COLORS.get(reason, "#8c8c8c")


def _event_color(kind: str) -> str:
    return _EVENT_COLORS.get(kind, "#8c8c8c")


def _event_label(row: Mapping[Hashable, Any]) -> str:
    def get(name: str) -> str:
        value = row.get(name)
        return "" if is_missing(value) else str(value)

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
