"""The per-gather table and the summaries built on it; the definitions they use are in the package's
docstring (:mod:`catapult_nb.analysis`)."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, cast

import numpy as np
import pandas as pd

from catapult_nb.analysis.sql import (
    TABLE_VIEW,
    SqlEvents,
    finished_counts,
    gather_frame,
    gather_relation,
    outcome_rows,
)
from catapult_nb.analysis.v2 import describe_v2, is_v2_options, split_requests, with_v2
from catapult_nb.engine import Reason
from catapult_nb.options import OPTION_FIELDS, SHOWN_FIELDS, GatherOptions, OptionError, flat_wire, nest_wire

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "COMPLETED_REASONS",
    "OPTION_COLUMNS",
    "REASONS",
    "UNKNOWN_OPTIONS",
    "EventSource",
    "completion_rate",
    "describe_options",
    "digit_count_distribution",
    "gather_table",
    "outcomes_by_options",
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

TIMEOUT = Reason.INTER_DIGIT_TIMEOUT.value
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
    def gathers(self) -> pd.DataFrame | Callable[[], pd.DataFrame]:
        """The gathers frame, or a method that gives it (a store's, a session's)."""


def gather_table(source: pd.DataFrame | EventSource | SqlEvents, gathers: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """One row per gather, indexed by ``gatherId``; Voice API v2 gathers too, keyed, labelled and with the
    reason derived as :mod:`catapult_nb.analysis.v2` says (``dialect`` tells them apart).

    ``gather_table(store)``, ``gather_table(session)`` (or ``session.gather_table()``) and
    ``gather_table(campaign_result)`` take the events and the gathers from the source;
    ``gather_table(events, gathers)`` takes two frames.

    :param source: an event source (a store, a session, a campaign's result), or the events DataFrame
        (``EventStore.to_dataframe()`` or a campaign's events). Only the ``gather`` rows and, for the time
        to the first key, the ``dtmf`` rows (or a ``firstKeyTime`` column) are used.
    :param gathers: the gathers table (``EventStore.gathers()`` or a campaign's gathers), when ``source``
        is a frame; a source's own gathers otherwise. Without it the table has no options, ``duration``
        or ``timeToFirstKey`` (those need ``createdTime``), and only gathers that finished are listed.
    :returns: columns ``callId``, ``dialect``, ``optionSet`` (a readable label of the options, when
        ``gathers`` is given), the option columns present in ``gathers`` (``maxDigits``,
        ``interDigitTimeout``, ``terminatingDigits``, ``suppressDtmf``, ``prompt.*``), ``tag``, ``reason``,
        ``reasonDerived`` (true where read from a v2 webhook by ``migrate.v1_reason``), ``digits``,
        ``digitCount``, ``finished``, ``completed``, ``createdTime``, ``completedTime``,
        ``timeToFirstKey`` and ``duration`` (API seconds). Sorted by creation (else completion) time.
    :raises ValueError: when a frame lacks the columns needed (the message names them).
    :raises TypeError: for a source that is neither a frame nor has ``events`` and ``gathers``.
    """
    if isinstance(source, SqlEvents) and gathers is None:
        return _in_duckdb(source)
    events, gathers = _frames_of(cast(Any, source), gathers)
    require_columns(events, ("eventType", "time", "gatherId"), "events")
    done = _gather_events(events)
    if gathers is not None:
        require_columns(gathers, ("gatherId",), "gathers")
    requested, served = split_requests(gathers)  # v1's create requests, v2's served <Gather> verbs
    if requested is not None:
        table = _with_requests(done, requested)
    else:
        table = done
        table["createdTime"] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    unknown = UNKNOWN_OPTIONS if gathers is not None else None
    table = with_v2(table, events, served, list(OPTION_COLUMNS), unknown)

    table["digits"] = table["digits"].astype("string")
    table["digitCount"] = table["digits"].str.len().astype("Int64")
    table["finished"] = table["reason"].notna()
    table["completed"] = table["reason"].isin(COMPLETED_REASONS).astype(bool)
    table["duration"] = seconds_of(table["completedTime"] - table["createdTime"])
    first_key = _first_key_times(events, table)
    table["timeToFirstKey"] = seconds_of(first_key - table["createdTime"])

    order = table["createdTime"].fillna(table["completedTime"])
    table = table.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")
    option_columns = [c for c in table.columns if c in OPTION_COLUMNS or c.startswith("prompt.")]
    columns = ["callId", "dialect"]
    columns += ["optionSet"] if "optionSet" in table.columns else []
    columns += option_columns
    columns += ["tag", "reason", "reasonDerived", "digits", "digitCount", "finished", "completed",
                "createdTime", "completedTime", "timeToFirstKey", "duration"]
    table = table[columns]
    table.index.name = "gatherId"
    return table


def _in_duckdb(source: SqlEvents) -> pd.DataFrame:
    """The gather table of a ParquetEvents (v1 and v2 events alike), computed in DuckDB (its connection
    closed, with the memory DuckDB held, before the frame is built)."""
    with gather_view(source) as con:
        arrow = con.sql(f"SELECT * FROM {TABLE_VIEW}").to_arrow_table()
    return gather_frame(arrow, _sql_options())


def in_duckdb(data: Any) -> TypeGuard[SqlEvents]:
    """Whether ``data``'s gather table is computed in DuckDB, where the summaries then aggregate: a
    ParquetEvents (of v1 events, v2 events or both)."""
    return isinstance(data, SqlEvents)


@contextlib.contextmanager
def gather_view(source: SqlEvents) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of the source's own, with its gather table as the view ``gather_table``; closed after."""
    con = source.connect()
    try:
        gather_relation(source, completed=COMPLETED_REASONS, unknown=UNKNOWN_OPTIONS,
                        option_columns=_sql_options(), label=_label, con=con)
        yield con
    finally:
        con.close()


def _label(options: dict[str, Any]) -> str:
    """An option set's ``optionSet``: a served v2 ``<Gather>``'s (:func:`describe_v2`) or v1's."""
    return describe_v2(options) if is_v2_options(options) else describe_options(options)


def _sql_options() -> dict[str, str]:
    return {f.wire: f.dtype for f in OPTION_FIELDS
            if f.wire in OPTION_COLUMNS or f.wire.startswith("prompt.")}


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
    out["completedTime"] = utc_times(rows["time"]).set_axis(out.index)
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
        utc_times(requested["createdTime"]).reindex(table.index)
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
        yield {c: v for c, v in zip(columns, values, strict=True) if not is_missing(v)}


def _first_key_times(events: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """The time of each gather's first key, NaT when it cannot be known (see the module docstring)."""
    first = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    if "firstKeyTime" in events.columns:
        rows = events.loc[events["eventType"].astype("string") == "gather"].dropna(subset=["gatherId"])
        carried = utc_times(rows["firstKeyTime"]).set_axis(rows["gatherId"].astype(str))
        carried = carried[~carried.index.duplicated()].reindex(table.index)
        first = first.where(first.notna(), carried)
    if "dtmf" not in set(events["eventType"].astype("string").dropna()) or "callId" not in events.columns:
        return first
    keys = events.loc[events["eventType"].astype("string") == "dtmf", ["callId", "time"]].dropna()
    windows = table.loc[table["createdTime"].notna() & table["completedTime"].notna() & first.isna(),
                        ["callId", "createdTime", "completedTime"]].dropna()
    if keys.empty or windows.empty:
        return first
    keys = pd.DataFrame({"callId": keys["callId"].astype(str), "keyTime": utc_times(keys["time"])})
    windows = windows.assign(
        callId=windows["callId"].astype(str), createdTime=utc_times(windows["createdTime"])
    )
    # merge_asof wants both keys in the same resolution.
    keys["keyTime"] = keys["keyTime"].astype("datetime64[us, UTC]")
    windows["createdTime"] = windows["createdTime"].astype("datetime64[us, UTC]")
    found = pd.merge_asof(
        windows.reset_index().sort_values("createdTime"),
        keys.sort_values("keyTime"),
        left_on="createdTime", right_on="keyTime", by="callId", direction="forward",
    ).set_index("gatherId")
    inside = found["keyTime"].where(found["keyTime"] <= utc_times(found["completedTime"]))
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
    if in_duckdb(data):  # counted in DuckDB: four rows come back, not the table
        with gather_view(data) as con:
            rows = finished_counts(con, ["reason"])
        counts = pd.Series(rows["n"].to_numpy(), index=rows["reason"].astype(str).to_numpy())
    else:
        counts = as_gather_table(data)["reason"].dropna().astype(str).value_counts()
    return _in_reason_order(counts, normalize)


def _in_reason_order(counts: pd.Series, normalize: bool) -> pd.Series:
    """Counts by reason, the four API reasons first (zeros included), then any other reason seen."""
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
    if in_duckdb(data):
        with gather_view(data) as con:
            rows = finished_counts(con, ["completed"])
        total, completed = int(rows["n"].sum()), int(rows.loc[rows["completed"].astype(bool), "n"].sum())
        return completed / total if total else float("nan")
    table = as_gather_table(data)
    finished = table.loc[table["finished"]]
    return float(finished["completed"].mean()) if len(finished) else float("nan")


def outcomes_by_options(data: pd.DataFrame, by: str | Sequence[str] = "optionSet") -> pd.DataFrame:
    """Outcomes of finished gathers grouped by the options they used: counts, rates and medians.

    :param data: a :func:`gather_table` built with ``gathers=`` (or a campaign's table).
    :param by: the column(s) to group by: ``optionSet`` (the whole option set, the default) or single
        options such as ``interDigitTimeout``.
    :returns: one row per group with ``gathers``, ``timeouts``, ``timeoutRate``, ``completionRate``,
        ``hungUpRate``, ``medianDuration`` and ``medianTimeToFirstKey`` (API seconds).
    :raises ValueError: when a grouping column is missing (build the table with ``gathers=``).
    """
    keys = [by] if isinstance(by, str) else list(by)
    if in_duckdb(data):  # grouped in DuckDB: one row a group comes back
        with gather_view(data) as con:
            _group_columns(con.sql(f"SELECT * FROM {TABLE_VIEW}").columns, keys)
            return outcome_rows(con, keys, TIMEOUT, Reason.HUNG_UP.value).set_index(keys)
    table = as_gather_table(data)
    _group_columns(table.columns, keys)
    finished = table.loc[table["finished"]]
    grouped = finished.assign(
        _timeout=finished["reason"] == TIMEOUT,
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


def _group_columns(columns: Iterable[str], keys: list[str]) -> None:
    missing = [k for k in keys if k not in set(columns)]
    if missing:
        raise ValueError(
            f"no column {', '.join(map(repr, missing))} to group by: build the table with "
            "gather_table(events, gathers) so it knows the options each gather used"
        )


def timeout_rate_by_options(data: pd.DataFrame, by: str | Sequence[str] = "optionSet") -> pd.DataFrame:
    """Deprecated: :func:`outcomes_by_options`, a name that says it gives more than time-out rates."""
    warnings.warn("analysis.timeout_rate_by_options() is now analysis.outcomes_by_options()",
                  DeprecationWarning, stacklevel=2)
    return outcomes_by_options(data, by)


def digit_count_distribution(data: pd.DataFrame, *, normalize: bool = False) -> pd.Series:
    """How many finished gathers collected 0, 1, 2, … digits (every count up to the largest shown).

    :param data: a :func:`gather_table` or an events frame.
    :param normalize: give shares instead of counts.
    """
    if in_duckdb(data):
        with gather_view(data) as con:
            rows = finished_counts(con, ["digitCount"])
        counts = pd.Series(rows["n"].to_numpy(), index=rows["digitCount"].astype("int64").to_numpy())
    else:
        table = as_gather_table(data)
        counts = table.loc[table["finished"], "digitCount"].dropna().astype("int64").value_counts()
    top = int(counts.index.max()) if len(counts) else 0
    dist = counts.reindex(range(top + 1), fill_value=0).astype("int64")
    dist.index.name = "digitCount"
    if normalize:
        total = dist.sum()
        return cast(pd.Series, (dist / total if total else dist.astype(float) * np.nan).rename("share"))
    return cast(pd.Series, dist.rename("gathers"))


# --------------------------------------------------------------------------------------------------
# Helpers


def as_gather_table(data: Any) -> pd.DataFrame:
    if isinstance(data, SqlEvents):  # a ParquetEvents: its table, computed in DuckDB
        return gather_table(data)
    if "eventType" in data.columns:
        return gather_table(data)
    require_columns(data, ("reason", "finished", "completed"), "gather table")
    return cast(pd.DataFrame, data)


def require_columns(frame: Any, columns: Iterable[str], what: str) -> None:
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


def utc_times(values: pd.Series) -> pd.Series:
    # One resolution everywhere, so columns from different sources combine without casts.
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def seconds_of(delta: pd.Series) -> pd.Series:
    return pd.to_timedelta(delta).dt.total_seconds()


def is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, dict, list)) and bool(pd.isna(value)))


def short_label(key: Any, limit: int = 40) -> str:
    text = ", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
    return text if len(text) <= limit else text[: limit - 1] + "…"


