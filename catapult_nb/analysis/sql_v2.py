"""Voice API v2 gathers as rows of the gather table computed in DuckDB (:mod:`catapult_nb.analysis.sql`).

The rows follow :mod:`catapult_nb.analysis.v2` (the pandas side) step by step, a test comparing the two
column by column:

* each v2 ``gather`` webhook takes the latest ``<Gather>`` served for its call at or before it (an ASOF
  join); a ``<Gather>`` answers one webhook (the first, by time then arrival), the others keep the key
  ``{callId}@{eventTime}`` and unknown options;
* a served ``<Gather>`` with a ``gatherUrl`` and no webhook ends with its call's first ``disconnect`` at
  or after it (an ASOF join), unless another document was served for the call by then; the rest of the
  served ``<Gather>`` verbs stay unfinished.

What is decided per option set (is it v2, has it a ``gatherUrl``, its ``maxDigits``) is read in Python
once per distinct set (:func:`with_v2_flags`), and the reason once per distinct (digit count, terminating
key, maxDigits) by :func:`catapult_nb.analysis.v2.reason_of` — the rule of ``gather_port.v1_reason``
has no copy in SQL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from catapult_nb.analysis.v2 import has_gather_url, hung_up_reason, is_v2_options, max_digits_of, reason_of

if TYPE_CHECKING:
    import duckdb

__all__ = ["V2_ROWS", "define_v2_rows", "with_v2_flags"]

#: The temporary view of the v2 rows: ``gatherId`` (the key), ``callId``, ``set_id``, ``tag``, ``reason``,
#: ``digits``, ``createdTime`` and ``completedTime``.
V2_ROWS = "_v2_rows"


def with_v2_flags(sets: pa.Table) -> pa.Table:
    """The option sets (``options`` as JSON text) with ``v2``, ``has_url`` and ``max_digits`` (what a
    served ``<Gather>`` of the set reports to and how many keys end it)."""
    texts = sets.column("options").to_pylist()
    parsed: list[Any] = [None if text is None else json.loads(text) for text in texts]
    return (sets.append_column("v2", pa.array([is_v2_options(o) for o in parsed], pa.bool_()))
            .append_column("has_url", pa.array([has_gather_url(o) for o in parsed], pa.bool_()))
            .append_column("max_digits", pa.array([max_digits_of(o) for o in parsed], pa.int64())))


def define_v2_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Define the view :data:`V2_ROWS` on ``con``, whose ``events`` and ``gathers`` views and registered
    ``_option_sets`` (:func:`with_v2_flags`) it reads."""
    unknown_limit = max_digits_of(None)
    (any_v2,) = con.sql("SELECT EXISTS (SELECT 1 FROM events WHERE dialect = 'v2') "
                        "OR EXISTS (SELECT 1 FROM _option_sets WHERE v2)").fetchall()[0]
    if not any_v2:  # v1 events only: no rows, and none of the joins that would find none
        con.execute(f"""
CREATE OR REPLACE TEMP VIEW {V2_ROWS} AS
SELECT NULL::VARCHAR AS "gatherId", NULL::VARCHAR AS "callId", NULL::BIGINT AS set_id, NULL::VARCHAR AS tag,
  NULL::VARCHAR AS reason, NULL::VARCHAR AS digits, NULL::TIMESTAMPTZ AS "createdTime",
  NULL::TIMESTAMPTZ AS "completedTime"
LIMIT 0""")
        return
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW _v2_served AS
SELECT g."gatherId", g."callId", g."createdTime", s.set_id, s.has_url, s.max_digits
FROM gathers g JOIN _option_sets s USING (options)
WHERE s.v2 AND g."callId" IS NOT NULL AND g."createdTime" IS NOT NULL;

CREATE OR REPLACE TEMP VIEW _v2_hooks AS
WITH hooks AS (
  SELECT id, "callId", "time", digits, "terminatingDigit", tag FROM events
  WHERE dialect = 'v2' AND "eventType" = 'gather' AND "callId" IS NOT NULL AND "time" IS NOT NULL
),
found AS (  -- the latest <Gather> served for the call at or before the webhook
  SELECT h.*, s."gatherId" AS served, s."createdTime" AS served_time, s.set_id, s.max_digits
  FROM hooks h ASOF LEFT JOIN _v2_served s ON h."callId" = s."callId" AND h."time" >= s."createdTime"
),
firsts AS (  -- a <Gather> answers one webhook: its first
  SELECT *, served IS NOT NULL
    AND row_number() OVER (PARTITION BY served ORDER BY "time", id) = 1 AS matched
  FROM found
)
SELECT CASE WHEN matched THEN served
         ELSE "callId" || '@' || strftime(make_timestamp(epoch_us("time")), '%Y-%m-%dT%H:%M:%S.%gZ')
       END AS "gatherId",
  "callId", CASE WHEN matched THEN set_id END AS set_id, tag, digits,
  CASE WHEN matched THEN served_time END AS "createdTime", "time" AS "completedTime",
  coalesce(length(digits), 0) AS n, coalesce("terminatingDigit", '') AS ended_by,
  CASE WHEN matched THEN max_digits ELSE {unknown_limit} END AS max_digits, matched
FROM firsts;
""")
    keys = con.sql("SELECT DISTINCT n, ended_by, max_digits FROM _v2_hooks").fetchall()
    con.register("_v2_reasons", pa.table({
        "n": pa.array([n for n, _, _ in keys], pa.int64()),
        "ended_by": pa.array([by for _, by, _ in keys], pa.string()),
        "max_digits": pa.array([limit for _, _, limit in keys], pa.int64()),
        "reason": pa.array([reason_of(n, by, limit) for n, by, limit in keys], pa.string()),
    }))
    hung_up = hung_up_reason().replace("'", "''")
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW {V2_ROWS} AS
WITH reported AS (
  SELECT h."gatherId", h."callId", h.set_id, h.tag, r.reason, h.digits, h."createdTime", h."completedTime"
  FROM _v2_hooks h JOIN _v2_reasons r ON h.n = r.n AND h.ended_by = r.ended_by
    AND h.max_digits = r.max_digits
),
unreported AS (  -- served, no webhook; with the next document served for the call
  SELECT s.*, lead(s."createdTime") OVER (PARTITION BY s."callId" ORDER BY s."createdTime") AS next_served
  FROM _v2_served s
  QUALIFY s."gatherId" NOT IN (SELECT "gatherId" FROM _v2_hooks WHERE matched)
),
ends AS (
  SELECT "callId", "time" AS end_time FROM events
  WHERE dialect = 'v2' AND "eventType" = 'disconnect' AND "callId" IS NOT NULL AND "time" IS NOT NULL
),
hung AS (  -- a <Gather> that reports, ended by its call's first disconnect before another document
  SELECT u."gatherId", e.end_time FROM unreported u ASOF JOIN ends e
    ON u."callId" = e."callId" AND u."createdTime" <= e.end_time
  WHERE u.has_url AND (u.next_served IS NULL OR u.next_served > e.end_time)
)
SELECT * FROM reported
UNION ALL BY NAME
SELECT u."gatherId", u."callId", u.set_id, NULL::VARCHAR AS tag,
  CASE WHEN e.end_time IS NOT NULL THEN '{hung_up}' END AS reason, NULL::VARCHAR AS digits, u."createdTime",
  e.end_time AS "completedTime"
FROM unreported u LEFT JOIN hung e USING ("gatherId")
""")
