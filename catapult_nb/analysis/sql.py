"""The gather table computed in DuckDB, over a :class:`~catapult_nb.store.parquet.ParquetEvents`.

:func:`catapult_nb.analysis.gather_table` hands a ``ParquetEvents`` here, whatever the dialects of its
events: the per-gather table is one SQL query over the folder's ``events`` and ``gathers`` views (out of
core: the events never become a DataFrame, only the table does). The query follows the pandas table step
by step (a test compares the two column by column); Voice API v2 gathers are rows of the same query, as
:mod:`catapult_nb.analysis.sql_v2` builds them:

* a gather's outcome is its first ``gather`` event (by time, then arrival);
* what was asked for (``createdTime``, the options) comes from the latest record of the gather; a gather
  with no record is labelled as such (``unknown``), and its ``callId`` and ``tag`` come from the event;
* the first key is the call's first ``dtmf`` event at or after the gather's creation, if it came before
  the gather's event (an ASOF join);
* rows are ordered by creation (else completion) time, then dialect (v1 first), then ``gatherId``.

Option sets are labelled in Python, once per distinct set (there are a handful), by the ``label`` given.

The summaries and plots aggregate over the same view here (:func:`finished_counts`, :func:`outcome_rows`,
:func:`histogram`) and bring back only their aggregates: a folder's table of millions of gathers never
becomes a DataFrame for a bar chart of four reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa

from catapult_nb.analysis.sql_v2 import V2_ROWS, define_v2_rows, with_v2_flags

if TYPE_CHECKING:
    import duckdb

__all__ = ["TABLE_VIEW", "SqlEvents", "finished_counts", "gather_frame", "gather_relation", "histogram",
           "outcome_rows", "value_range"]

#: The view each call defines on the source's connection: the gather table, one row per gather.
TABLE_VIEW = "gather_table"


def _seconds(micros: str) -> str:
    """SQL: microseconds as seconds, rounded as pandas' ``total_seconds`` rounds them (whole seconds, then
    the rest divided), so both give the same float."""
    rest = f"((({micros}) % 1000000 + 1000000) % 1000000)"
    return f"(((({micros}) - {rest}) // 1000000)::DOUBLE + {rest}::DOUBLE / 1e6)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@runtime_checkable
class SqlEvents(Protocol):
    """Events this module computes over (a :class:`~catapult_nb.store.parquet.ParquetEvents`): a DuckDB
    connection with the views ``events`` and ``gathers``, and the option sets of its gathers."""

    @property
    def connection(self) -> duckdb.DuckDBPyConnection: ...

    def connect(self) -> duckdb.DuckDBPyConnection: ...

    def option_sets(self, label: Callable[[dict[str, Any]], str]) -> pa.Table: ...


def gather_relation(
    source: SqlEvents,
    *,
    completed: Iterable[str],
    unknown: str,
    option_columns: dict[str, str],
    label: Callable[[dict[str, Any]], str],
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyRelation:
    """The gather table as a DuckDB relation (also the view :data:`TABLE_VIEW` of ``con``, by default
    ``source.connection``).

    :param completed: the reasons that count as completed.
    :param unknown: the ``optionSet`` of a gather without a record.
    :param option_columns: the option columns to carry (wire name -> pandas dtype), in order.
    :param label: an option set's label (``describe_options``).
    """
    con = source.connection if con is None else con
    con.register("_option_sets", with_v2_flags(source.option_sets(label)))
    define_v2_rows(con)
    options = ", ".join(f"r.{_quote(name)}" for name in option_columns)
    reasons = ", ".join("'" + r.replace("'", "''") + "'" for r in sorted(completed)) or "NULL"
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW {TABLE_VIEW} AS
WITH done AS (  -- a gather's first event (by time, then arrival), as one aggregate: no window to sort
  SELECT "gatherId", unnest(first) FROM (
    SELECT "gatherId", arg_min({{'callId': "callId", 'tag': tag, 'reason': reason, 'digits': digits,
                                'completedTime': "time"}},
                               {{'at': coalesce(epoch_us("time"), 9223372036854775807), 'id': id}}) AS first
    FROM events WHERE "eventType" = 'gather' AND "gatherId" IS NOT NULL GROUP BY "gatherId")
),
requested AS (  -- narrow while the rows are joined: an option set's number, its columns at the end
  SELECT g."gatherId", g."callId", g."createdTime", s.set_id, s.tag
  FROM gathers g LEFT JOIN _option_sets s USING (options) WHERE s.v2 IS NOT TRUE  -- v1's create requests
),
joined AS (
  SELECT coalesce(d."gatherId", r."gatherId") AS "gatherId", coalesce(d."callId", r."callId") AS "callId",
    r."gatherId" IS NOT NULL AS requested, r.set_id, coalesce(d.tag, r.tag) AS tag, d.reason, d.digits,
    r."createdTime", d."completedTime"
  FROM done d FULL OUTER JOIN requested r ON d."gatherId" = r."gatherId"
),
rows AS (  -- v1's gathers and v2's (sql_v2)
  SELECT *, 'v1' AS dialect FROM joined
  UNION ALL BY NAME
  SELECT "gatherId", "callId", set_id IS NOT NULL AS requested, set_id, tag, reason, digits, "createdTime",
    "completedTime", 'v2' AS dialect
  FROM {V2_ROWS}
),
keys AS (
  SELECT "callId", "time" AS "keyTime" FROM events
  WHERE "eventType" = 'dtmf' AND "callId" IS NOT NULL AND "time" IS NOT NULL
),
windows AS (
  SELECT "gatherId", "callId", "createdTime", "completedTime" FROM rows
  WHERE "callId" IS NOT NULL AND "createdTime" IS NOT NULL AND "completedTime" IS NOT NULL
),
first_keys AS (  -- the call's first key inside the gather's window (a call has a handful of keys)
  SELECT w."gatherId", min(k."keyTime") AS "keyTime" FROM windows w JOIN keys k
    ON w."callId" = k."callId" AND k."keyTime" >= w."createdTime" AND k."keyTime" <= w."completedTime"
  GROUP BY w."gatherId"
)
SELECT j."gatherId", j."callId", j.dialect,
  CASE WHEN j.requested THEN s."optionSet" ELSE '{unknown.replace("'", "''")}' END AS "optionSet",
  {options.replace('r.', 's.')}{',' if options else ''} coalesce(j.tag, s.tag) AS tag,
  j.reason, j.dialect = 'v2' AS "reasonDerived", j.digits, length(j.digits) AS "digitCount",
  j.reason IS NOT NULL AS finished,
  coalesce(j.reason IN ({reasons}), false) AS completed, j."createdTime", j."completedTime",
  {_seconds('epoch_us(f."keyTime") - epoch_us(j."createdTime")')} AS "timeToFirstKey",
  {_seconds('epoch_us(j."completedTime") - epoch_us(j."createdTime")')} AS duration
FROM rows j LEFT JOIN first_keys f USING ("gatherId") LEFT JOIN _option_sets s USING (set_id)
ORDER BY coalesce(j."createdTime", j."completedTime") ASC NULLS LAST, j.dialect, j."gatherId"
""")
    return con.sql(f"SELECT * FROM {TABLE_VIEW}")


def gather_frame(arrow: pa.Table, option_columns: dict[str, str]) -> pd.DataFrame:
    """The gather table (the rows of :func:`gather_relation`, in Arrow) typed as
    :func:`catapult_nb.analysis.gather_table` types it, built column by column from Arrow."""
    index = pd.Index(arrow.column("gatherId").to_pandas(), name="gatherId").astype(str)
    data: dict[str, Any] = {}
    for name in arrow.column_names[1:]:
        column = arrow.column(name)
        if name in ("callId", "tag"):  # as the pandas table has them: Python strings, None when missing
            data[name] = pd.Series(column.to_numpy(zero_copy_only=False), index=index, dtype=object)
        elif name in option_columns or name in ("optionSet", "reason", "digits", "digitCount"):
            dtype = option_columns.get(name, "Int64" if name == "digitCount" else "string")
            data[name] = column.to_pandas().astype(dtype).array
        elif name in ("createdTime", "completedTime"):
            data[name] = column.to_pandas().dt.tz_convert("UTC").astype("datetime64[us, UTC]").array
        elif name == "dialect":
            data[name] = pd.Categorical(column.to_pandas(), categories=pd.Index(["v1", "v2"]))
        elif name in ("finished", "completed", "reasonDerived"):
            data[name] = column.to_numpy(zero_copy_only=False).astype(bool)
        else:
            data[name] = column.to_pandas().astype("float64").to_numpy()
    return pd.DataFrame(data, index=index)


# --------------------------------------------------------------------------------------------------
# Aggregates over the view (the summaries' and plots' own, computed where the table is)


def _columns(names: Sequence[str]) -> str:
    return ", ".join(_quote(n) for n in names)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def finished_counts(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> pd.DataFrame:
    """Finished gathers of the view counted by the values of ``columns`` (a row missing any of them is left
    out): those columns and ``n``, one row per value."""
    present = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in columns)
    rows: pd.DataFrame = con.sql(f"SELECT {_columns(columns)}, count(*) AS n FROM {TABLE_VIEW} "
                                 f"WHERE finished AND {present} GROUP BY ALL").df()
    return rows


def outcome_rows(con: duckdb.DuckDBPyConnection, keys: Sequence[str], timeout: str, hung_up: str
                 ) -> pd.DataFrame:
    """The outcomes of finished gathers grouped by ``keys`` (a missing key is a group of its own, last), in
    the columns of :func:`catapult_nb.analysis.outcomes_by_options`, sorted by the keys."""
    group = _columns(keys)
    rows: pd.DataFrame = con.sql(f"""
SELECT {group}, count(*) AS gathers, count(*) FILTER (reason = {_text(timeout)}) AS timeouts,
  avg((reason = {_text(timeout)})::DOUBLE) AS "timeoutRate", avg(completed::DOUBLE) AS "completionRate",
  avg((reason = {_text(hung_up)})::DOUBLE) AS "hungUpRate", median(duration) AS "medianDuration",
  median("timeToFirstKey") AS "medianTimeToFirstKey"
FROM {TABLE_VIEW} WHERE finished GROUP BY ALL ORDER BY {', '.join(f"{_quote(k)} NULLS LAST" for k in keys)}
""").df()
    return rows


def value_range(con: duckdb.DuckDBPyConnection, column: str) -> tuple[float, float] | None:
    """The smallest and largest value of ``column`` in the view; None when no row has one."""
    value = _quote(column)
    ((low, high),) = con.sql(f"SELECT min({value}), max({value}) FROM {TABLE_VIEW}").fetchall()
    return None if low is None else (float(low), float(high))


def histogram(con: duckdb.DuckDBPyConnection, column: str, edges: Sequence[float], by: str | None = None
              ) -> pd.DataFrame:
    """How many rows of the view have ``column`` in each bin between ``edges`` (as numpy counts them: each
    bin holds its left edge, the last its right edge too, values outside are left out), per value of
    ``by`` (a row without one is left out): ``by``, ``bin`` (from 0) and ``n``."""
    group = f"{_quote(by)}, " if by else ""
    where = f"AND {_quote(by)} IS NOT NULL" if by else ""
    value = _quote(column)
    rows: pd.DataFrame = con.sql(f"""
SELECT {group}len(list_filter($inner, lambda e: e <= {value})) AS bin, count(*) AS n
FROM {TABLE_VIEW} WHERE {value} BETWEEN $low AND $high {where} GROUP BY ALL
""", params={"inner": [float(e) for e in edges[1:-1]], "low": float(edges[0]),
             "high": float(edges[-1])}).df()
    return rows
