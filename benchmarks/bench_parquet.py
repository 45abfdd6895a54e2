"""Logs larger than memory: a JSON-lines log into a ParquetEvents folder, and gather tables over millions.

1. A JSON-lines log of ``--events`` bare callback payloads (bench_import's generator: per call an answer,
   five dtmf keys, a gather and a hangup, about 140 bytes a line; 3,450,000 events make 470 MB) is imported
   by ``ParquetEvents.import_events`` into a new folder, in a fresh process. Reported: events per second,
   and that process's peak resident memory (``ru_maxrss``, all of it). Floor, same run, fresh process:
   the same lines read and parsed with ``json.loads``, nothing else. The two alternate ``--rounds``
   times, the best of each kept.
2. ``analysis.gather_table`` over a folder of ``--gathers`` gathers (8 events each, and the gathers'
   create records), over a folder of as many Voice API v2 gathers (8 webhooks a call, each ``<Gather>``
   recorded as served; a tenth of the callers hang up mid-gather), and over a folder of ``--big`` events,
   each in a fresh process: seconds, rows and peak resident memory. The folders are written straight in
   the layout with DuckDB (what imports leave, without waiting for them); the table is computed in DuckDB
   and comes back as one DataFrame.
3. The SQLite store's import of the first ``--store-events`` lines of the same log, and where its time
   goes, each in a fresh process: the whole import; the reading and checking alone (the importer writing
   to a store that keeps nothing); and the store's own writing alone (``BulkWriter.add_many`` of the
   payloads already read and checked).

``--quick`` (as ``make bench`` runs it): 200,000 events, 60,000 gathers, 1,000,000 events, one round.

Usage: python benchmarks/bench_parquet.py [--events 3450000] [--gathers 600000] [--big 10000000]
                                          [--store-events 1000000] [--rounds 2] [--quick]
Targets: import >= 1.0x the floor with peak memory <= 1.5 GiB for 470 MB; gather_table over 600,000
gathers <= 30 s, and over 10 million events within 1.5 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import write_events  # noqa: E402  (the same generator, the same lines)

GIB = 1024

IMPORT_CHILD = r"""
import json, resource, sys, time
from catapult_nb import ParquetEvents
events = ParquetEvents(sys.argv[2])
t0 = time.perf_counter()
report = events.import_events(sys.argv[1], progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"imported": report.imported, "seconds": seconds, "rows": len(events),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
        n += 1
print(json.dumps({"lines": n, "seconds": time.perf_counter() - t0}))
"""

TABLE_CHILD = r"""
import json, resource, sys, time
from catapult_nb import ParquetEvents, analysis
events = ParquetEvents(sys.argv[1])
t0 = time.perf_counter()
table = analysis.gather_table(events)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "gathers": len(table), "events": len(events),
                  "finished": int(table["finished"].sum()),
                  "with_options": int(table["maxDigits"].notna().sum()),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The layout written straight from DuckDB: per call an answer, five dtmf keys, a gather and a hangup, every
# gather with its create record; one call every 13 s, so the days fill as a busy line's would. With "v2":
# the same calls as v2 webhooks (a gather webhook, or none when the caller hangs up, then a disconnect), each
# <Gather> recorded as served, as EventStore.record_bxml records it.
MAKE_FOLDER_CHILD = r"""
import json, sys
import duckdb
from pathlib import Path
from catapult_nb import ParquetEvents
from catapult_nb.store.parquet_folder import EVENTS_SCHEMA
folder, calls, v2 = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["v2"]
stamp = "strftime({}, '%Y-%m-%dT%H:%M:%S.%gZ')"
if v2:
    dialect, gather_id, reason = "'v2'", 'NULL::VARCHAR', 'NULL::VARCHAR'
    kinds = "WHEN k = 6 AND c % 10 <> 7 THEN 'gather' WHEN k = 6 THEN 'dtmf' ELSE 'disconnect'"
    ended_by = "CASE WHEN k = 6 AND c % 3 = 0 THEN '#' END"
    record = "'c-bench' || lpad(range::VARCHAR, 12, '0') || '@' || " + stamp.format(
        "to_timestamp(1767225600 + range * 13 + 1)")
else:
    dialect = "'v1'"
    gather_id = "CASE WHEN k = 6 THEN 'gtr-bench' || lpad(c::VARCHAR, 12, '0') END"
    reasons = "['max-digits', 'terminating-digit', 'inter-digit-timeout', 'hung-up']"
    reason = f"CASE WHEN k = 6 THEN {reasons}[c % 4 + 1] END"
    kinds = "WHEN k = 6 THEN 'gather' ELSE 'hangup'"
    ended_by = "NULL::VARCHAR"
    record = "'gtr-bench' || lpad(range::VARCHAR, 12, '0')"
time_field = ('","eventTime":"' if v2 else '","time":"') + "' || " + stamp.format('"time"') + " || '"
events = ParquetEvents(folder)
con = duckdb.connect(config={"memory_limit": "1GB"})
names = ", ".join(f'"{f.name}"' for f in EVENTS_SCHEMA)
con.execute(f'''
COPY (
  WITH calls AS (SELECT range AS c, to_timestamp(1767225600 + range * 13) AS t0 FROM range({calls})),
  rows AS (
    SELECT c, k,
      CASE WHEN k = 0 THEN 'answer' WHEN k <= 5 THEN 'dtmf' {kinds} END AS "eventType",
      t0 + to_milliseconds(CASE WHEN k = 0 THEN 0 WHEN k <= 5 THEN 3000 + (k - 1) * 400
                                WHEN k = 6 THEN 6000 ELSE 9000 END) AS "time"
    FROM calls, range(8) AS r(k)
  )
  SELECT c * 8 + k + 1 AS id, "eventType", "time", {dialect} AS dialect,
    'c-bench' || lpad(c::VARCHAR, 12, '0') AS "callId", {gather_id} AS "gatherId", {reason} AS reason,
    CASE WHEN k BETWEEN 1 AND 6 THEN 'active' END AS state,
    CASE WHEN k = 6 THEN lpad((c % 100000)::VARCHAR, 5, '0') END AS digits,
    CASE WHEN k = 6 THEN 'bench' END AS tag,
    CASE WHEN k BETWEEN 1 AND 5 THEN (k - 1)::VARCHAR END AS "dtmfDigit",
    NULL::VARCHAR AS status, CASE WHEN k = 7 THEN 'NORMAL_CLEARING' END AS cause,
    CASE WHEN k = 0 THEN 'active' END AS "callState", '+15550100001' AS "from", '+15550199999' AS "to",
    {ended_by} AS "terminatingDigit", NULL::VARCHAR AS digit, NULL::VARCHAR AS "errorMessage",
    NULL::VARCHAR AS direction,
    "time" AS received, 'bench' AS source, NULL::VARCHAR AS session,
    '{{"eventType":"' || "eventType" || '{time_field}","callId":"c-bench' || lpad(c::VARCHAR, 12, '0')
      || '"}}' AS payload,
    unhex(md5(c::VARCHAR || '/' || k::VARCHAR)) AS digest, "time"::DATE AS date
  FROM rows
) TO '{folder / "events"}' (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part-bench-{{i}}')
''')
options = json.dumps({"maxDigits": "5", "terminatingDigits": "#", "interDigitTimeout": "4",
                      "prompt": {"sentence": "Your account code, please"}})
if v2:
    options = json.dumps({"dialect": "v2", "gatherUrl": "/gather", "maxDigits": 5, "terminatingDigits": "#",
                          "interDigitTimeout": 4, "prompt": {"sentence": "Your account code, please"}})
(folder / "gathers").mkdir()
con.execute(f'''
COPY (SELECT {record} AS "gatherId",
             'c-bench' || lpad(range::VARCHAR, 12, '0') AS "callId",
             to_timestamp(1767225600 + range * 13 + 1) AS "createdTime", NULL::VARCHAR AS session,
             '{options}' AS options, range + 1 AS recorded
      FROM range({calls})) TO '{folder / "gathers" / "part-bench.parquet"}' (FORMAT parquet)
''')
manifest = json.loads((folder / "catapult_nb-events.json").read_text())
(folder / "catapult_nb-events.json").write_text(json.dumps(manifest | {"last_id": calls * 8,
                                                                       "last_recorded": calls}))
print(json.dumps({"events": calls * 8}))
"""

STORE_CHILD = r"""
import json, sys, time
from catapult_nb.store.store import EventStore
store = EventStore(sys.argv[2], synchronous="NORMAL")
t0 = time.perf_counter()
report = store.import_events(sys.argv[1], progress=False)
print(json.dumps({"imported": report.imported, "seconds": time.perf_counter() - t0}))
"""

# the importer writing to a store that keeps nothing: reading, decoding and the per-line checks alone
READ_ONLY_CHILD = r"""
import contextlib, json, sys, time
from catapult_nb.store import importers
class Nothing:
    def add_many(self, items):
        return [True for _ in items]
    def record_gather(self, *args, **kwargs):
        pass
    def flush(self):
        pass
class Store:
    @contextlib.contextmanager
    def bulk(self):
        yield Nothing()
t0 = time.perf_counter()
report = importers.import_events(Store(), sys.argv[1], progress=False)
print(json.dumps({"read": report.read, "seconds": time.perf_counter() - t0}))
"""

# the store's writing alone: the payloads already read and checked, in batches as the importer hands them
WRITE_ONLY_CHILD = r"""
import json, sys, time
import orjson
from catapult_nb.store.keys import parse_time_ns
from catapult_nb.store.store import EventStore
items = []
with open(sys.argv[1], "rb") as f:
    for line in f:
        payload = orjson.loads(line)
        t = parse_time_ns(payload["time"])
        items.append((payload, "events.jsonl", None, t, t))
store = EventStore(sys.argv[2], synchronous="NORMAL")
t0 = time.perf_counter()
with store.bulk() as writer:
    for start in range(0, len(items), 2000):
        writer.add_many(items[start:start + 2000])
print(json.dumps({"written": len(store), "seconds": time.perf_counter() - t0}))
"""


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    if out.returncode:
        raise SystemExit(f"a measuring process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def head(source: Path, target: Path, lines: int) -> None:
    with open(source, "rb") as f, open(target, "wb") as out:
        for n, line in enumerate(f):
            if n == lines:
                break
            out.write(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_450_000)
    parser.add_argument("--gathers", type=int, default=600_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--store-events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (for make bench)")
    parser.add_argument("--parts", default="import,tables,store", help="which measures to run, of these")
    args = parser.parse_args()
    if args.quick:
        args.events, args.gathers, args.big, args.store_events, args.rounds = 200_000, 60_000, 1_000_000, \
            100_000, 1
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parts = set(args.parts.split(","))
        log = work / "events.jsonl"
        if parts & {"import", "store"}:
            write_events(log, args.events if "import" in parts else args.store_events)
            print(f"{args.events:,} events, {log.stat().st_size / 1e6:.0f} MB of JSON lines")
        best, floor = None, None
        for round_ in range(args.rounds if "import" in parts else 0):
            folder = work / f"import-{round_}"
            result = child(IMPORT_CHILD, str(log), str(folder))
            assert result["imported"] == result["rows"] == args.events, result
            base = child(FLOOR_CHILD, str(log))
            print(f"  round {round_ + 1}: import {args.events / result['seconds']:,.0f} events/s "
                  f"({result['seconds']:.1f} s, peak {result['peak_mib']:,.0f} MiB), "
                  f"floor {base['lines'] / base['seconds']:,.0f} lines/s ({base['seconds']:.1f} s)")
            best = result if best is None or result["seconds"] < best["seconds"] else best
            floor = base if floor is None or base["seconds"] < floor["seconds"] else floor
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        if best is not None and floor is not None:
            ratio = floor["seconds"] / best["seconds"]
            print(f"import: {args.events / best['seconds']:,.0f} events/s, {ratio:.2f}x the json.loads floor "
                  f"({floor['lines'] / floor['seconds']:,.0f} lines/s), "
                  f"peak memory {best['peak_mib']:,.0f} MiB; "
                  f"targets >= 1.0x: {'met' if ratio >= 1 else 'NOT met'}, <= 1.5 GiB: "
                  f"{'met' if best['peak_mib'] <= 1.5 * GIB else 'NOT met'}")

        sizes = (("gathers", args.gathers * 8), ("v2", args.gathers * 8), ("big", args.big))
        for label, events in sizes if "tables" in parts else ():
            folder = work / f"table-{label}"
            child(MAKE_FOLDER_CHILD, str(folder), str(events // 8), *(["v2"] if label == "v2" else []))
            table = child(TABLE_CHILD, str(folder))
            assert table["gathers"] == events // 8 == table["with_options"] == table["finished"], table
            target = (f"<= 30 s: {'met' if table['seconds'] <= 30 else 'NOT met'}" if label != "big" else
                      f"<= 1.5 GiB: {'met' if table['peak_mib'] <= 1.5 * GIB else 'NOT met'}")
            what = "Voice API v2 events" if label == "v2" else "events"
            print(f"gather_table over {table['events']:,} {what} ({table['gathers']:,} gathers): "
                  f"{table['seconds']:.1f} s, peak memory {table['peak_mib']:,.0f} MiB; {target}")
            subprocess.run(["rm", "-rf", str(folder)], check=True)

        if "store" not in parts:
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            return
        part = work / "store.jsonl"
        head(log, part, args.store_events)
        whole = child(STORE_CHILD, str(part), str(work / "store.sqlite3"))
        reading = child(READ_ONLY_CHILD, str(part))
        writing = child(WRITE_ONLY_CHILD, str(part), str(work / "written.sqlite3"))
        base = child(FLOOR_CHILD, str(part))
        n = args.store_events
        print(f"SQLite store, {n:,} events: import {n / whole['seconds']:,.0f} events/s "
              f"({whole['seconds']:.1f} s, {base['seconds'] / whole['seconds']:.2f}x the floor, "
              f"{n / base['seconds']:,.0f} lines/s); of which reading and checking alone "
              f"{reading['seconds']:.1f} s, the store's writing alone {writing['seconds']:.1f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
