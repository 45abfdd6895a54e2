"""Importing callback logs: 1,000,000 JSON-lines events, and the shipped week-long log with its gather table.

1. A JSON-lines file of ``--events`` bare callback payloads (gather, dtmf, hangup events over many calls,
   about 200 bytes a line) is imported by ``EventStore.import_events`` into a new store file, in a fresh
   process. Reported: events per second, and the growth of that process's peak resident memory during the
   import (``resource.getrusage``'s ru_maxrss after, minus the resident size before).
2. ``notebooks/data/gather_week.jsonl.xz`` (95,000 lines, 48,000 callbacks) is imported into an in-memory
   store and ``analysis.gather_table(store.events, store.gathers())`` is built, in a fresh process.

The floor, in the same run and fresh process: the same file read line by line, each line parsed with
``json.loads`` and inserted as text into a plain SQLite table in one transaction: the least any importer
does. The machine is shared, so the ratio to that floor is the figure that travels; the two are run
alternately ``--rounds`` times and the best of each is kept.

``--compare DIR`` also runs both imports with the ``catapult_nb`` package found in DIR (for example an
earlier commit's tree from ``git archive``), so a change is measured before and after in the same run.

``--quick`` (as ``make bench`` runs it): 200,000 events and one round of each.

Usage: python benchmarks/bench_import.py [--events 1000000] [--rounds 2] [--compare DIR] [--quick]
Targets: >= 100,000 events/s and <= 500 MiB peak memory growth; the week's log: import + table <= 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "notebooks" / "data" / "gather_week.jsonl.xz"

IMPORT_CHILD = r"""
import json, resource, sys, time
from catapult_nb.store.store import EventStore

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

store = EventStore(sys.argv[2])
before = rss_mib()
t0 = time.perf_counter()
report = store.import_events(sys.argv[1], progress=False)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"imported": report.imported, "seconds": seconds, "growth_mib": peak - before,
                  "rows": len(store)}))
"""

FLOOR_CHILD = r"""
import json, sqlite3, sys, time
t0 = time.perf_counter()
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, json TEXT NOT NULL)")
conn.execute("BEGIN")
rows = 0
with open(sys.argv[1], "rb") as f:
    batch = []
    for line in f:
        batch.append((json.dumps(json.loads(line), separators=(",", ":")),))
        if len(batch) == 2000:
            conn.executemany("INSERT INTO plain (json) VALUES (?)", batch)
            rows += len(batch)
            batch = []
    conn.executemany("INSERT INTO plain (json) VALUES (?)", batch)
    rows += len(batch)
conn.execute("COMMIT")
print(json.dumps({"imported": rows, "seconds": time.perf_counter() - t0}))
"""

WEEK_CHILD = r"""
import json, sys, time
from catapult_nb import analysis
from catapult_nb.store.store import EventStore
t0 = time.perf_counter()
store = EventStore(":memory:")
report = store.import_events(sys.argv[1], progress=False)
imported = time.perf_counter() - t0
table = analysis.gather_table(store.events, store.gathers())
print(json.dumps({"import_s": imported, "total_s": time.perf_counter() - t0, "gathers": len(table),
                  "imported": report.imported, "rejected": report.rejected_count}))
"""

WEEK_FLOOR_CHILD = r"""
import json, lzma, sys, time
t0 = time.perf_counter()
n = 0
with lzma.open(sys.argv[1], "rb") as f:
    for line in f:
        try:
            json.loads(line)
            n += 1
        except ValueError:
            pass
print(json.dumps({"lines": n, "seconds": time.perf_counter() - t0}))
"""


def write_events(path: Path, n: int) -> None:
    """n callback payloads: per call an answer, a gather's five dtmf keys, the gather, a hangup."""
    reasons = ("max-digits", "terminating-digit", "inter-digit-timeout", "hung-up")
    with open(path, "w", encoding="utf-8") as out:
        i = 0
        while i < n:
            call = f"c-bench{i // 8:016d}"
            base = 1_767_225_600 + i // 8 * 13
            lines = [{"eventType": "answer", "callState": "active", "callId": call, "from": "+15550100001",
                      "to": "+15550199999", "time": _iso(base)}]
            lines += [{"eventType": "dtmf", "dtmfDigit": str(k), "state": "active", "callId": call,
                       "time": _iso(base + 3 + k * 0.4)} for k in range(5)]
            lines.append({"eventType": "gather", "reason": reasons[i // 8 % 4], "state": "completed",
                          "digits": f"{i % 100_000:05d}", "callId": call,
                          "gatherId": f"gtr-bench{i // 8:016d}", "tag": "bench", "time": _iso(base + 6)})
            lines.append({"eventType": "hangup", "cause": "NORMAL_CLEARING", "callId": call,
                          "time": _iso(base + 9)})
            for line in lines[: n - i]:
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
            i += len(lines)


def _iso(seconds: float) -> str:
    whole = int(seconds)
    ms = round((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


def child(code: str, *args: str, root: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=root, check=True)  # cwd: `python -c` looks for packages there first
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", type=Path, help="a tree holding another catapult_nb to measure too")
    parser.add_argument("--quick", action="store_true", help="200,000 events, one round (for make bench)")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds = 200_000, 1
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.jsonl"
        write_events(source, args.events)
        print(f"{args.events:,} events, {source.stat().st_size / 2**20:.0f} MiB of JSON lines")
        best, floor, other = None, None, None
        for round_ in range(args.rounds):
            for name in ("store.sqlite3", "store.sqlite3-wal", "store.sqlite3-shm", "floor.sqlite3",
                         "floor.sqlite3-wal", "floor.sqlite3-shm"):
                (Path(tmp) / name).unlink(missing_ok=True)
            result = child(IMPORT_CHILD, str(source), str(Path(tmp) / "store.sqlite3"))
            assert result["imported"] == result["rows"] == args.events, result
            base = child(FLOOR_CHILD, str(source), str(Path(tmp) / "floor.sqlite3"))
            if args.compare:
                for name in ("store.sqlite3", "store.sqlite3-wal", "store.sqlite3-shm"):
                    (Path(tmp) / name).unlink(missing_ok=True)
                then = child(IMPORT_CHILD, str(source), str(Path(tmp) / "store.sqlite3"), root=args.compare)
                print(f"  round {round_ + 1}: {args.compare}: {args.events / then['seconds']:,.0f} events/s")
                other = then if other is None or then["seconds"] < other["seconds"] else other
            print(f"  round {round_ + 1}: import {args.events / result['seconds']:,.0f} events/s "
                  f"(+{result['growth_mib']:.0f} MiB peak), "
                  f"floor {args.events / base['seconds']:,.0f} lines/s")
            best = result if best is None or result["seconds"] < best["seconds"] else best
            floor = base if floor is None or base["seconds"] < floor["seconds"] else floor
    rate, floor_rate = args.events / best["seconds"], args.events / floor["seconds"]
    print(f"import: {rate:,.0f} events/s ({best['seconds']:.2f} s), peak memory growth "
          f"{best['growth_mib']:.0f} MiB; floor {floor_rate:,.0f} lines/s; "
          f"ratio {rate / floor_rate:.2f}x floor")
    if other:
        then_rate = args.events / other["seconds"]
        print(f"  {args.compare}: {then_rate:,.0f} events/s, +{other['growth_mib']:.0f} MiB; "
              f"ratio {then_rate / floor_rate:.2f}x floor")
    print(f"  targets: >= 100,000 events/s: {'met' if rate >= 100_000 else 'NOT met'}; "
          f"<= 500 MiB: {'met' if best['growth_mib'] <= 500 else 'NOT met'}")
    weeks = [child(WEEK_CHILD, str(LOG)) for _ in range(args.rounds)]
    week = min(weeks, key=lambda w: w["total_s"])
    floors = [child(WEEK_FLOOR_CHILD, str(LOG)) for _ in range(args.rounds)]
    week_floor = min(floors, key=lambda w: w["seconds"])
    print(f"week log: import {week['import_s']:.2f} s + gather_table = {week['total_s']:.2f} s "
          f"({week['imported']:,} events, {week['gathers']:,} gathers, {week['rejected']} rejected); "
          f"floor (decompress + json.loads) {week_floor['seconds']:.2f} s; "
          f"ratio {week['total_s'] / week_floor['seconds']:.1f}x floor; target <= 3 s: "
          f"{'met' if week['total_s'] <= 3 else 'NOT met'}")
    if args.compare:
        then = min((child(WEEK_CHILD, str(LOG), root=args.compare) for _ in range(args.rounds)),
                   key=lambda w: w["total_s"])
        print(f"  {args.compare}: import {then['import_s']:.2f} s + gather_table = {then['total_s']:.2f} s; "
              f"ratio {then['total_s'] / week_floor['seconds']:.1f}x floor")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
