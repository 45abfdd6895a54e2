"""1,000,000 stored events -> ``EventStore.to_dataframe()``: time and peak memory.

The store is filled once (realistic gather/dtmf/speak/hangup events over many calls), then a fresh
process opens it — as a restarted kernel would — and builds the frame. Peak memory is that process's
peak resident set size from ``resource.getrusage`` (ru_maxrss), before and after the call.

The floors, in the same run: the same events in a plain SQLite table with one column per frame column
(text, and times as integer nanoseconds), read by ``pd.read_sql_query`` in a fresh process — what the
obvious layout costs before any dtype is fixed; and the same columns in an uncompressed Arrow (Feather)
file read by ``pd.read_feather`` — what reading a columnar copy costs at least, as the store keeps one
beside its file. The three are measured alternately, ``--rounds`` times each, and the best of each is
reported with the ratios (the machine's load moves all of them).

What each figure covers:

* ``to_dataframe()`` in a fresh process with the file in the OS page cache (just written, or read by a
  run before): the usual case in a notebook.
* the first access to a ``payload`` value: the ``payload`` column is loaded lazily, so the first access
  parses the JSON text of every row (later ones are free). Frame plus first payload access is what a
  user who reads payloads waits for.
* a cold-cache read: the same fresh-process ``to_dataframe()`` after the store's files are dropped from
  the page cache (``posix_fadvise(POSIX_FADV_DONTNEED)``), as after a reboot; the disk's speed shows.
* the first read without the columnar copy (``events.sqlite3-columns``, deleted first): the one read
  that scans SQLite and writes the copy, as after events were written and never read as a frame.
* a full garbage collection right after the frame: the frame's million payload objects are made with
  the collector paused, so its first pass over them comes later; this is what it costs.

``--compare DIR`` also runs the fresh-process ``to_dataframe()`` with the ``catapult_nb`` package found in
DIR (for example an earlier commit's tree from ``git archive``) on the same store, in the same rounds.

Usage: python benchmarks/bench_dataframe.py [--events 1000000] [--rounds 2] [--keep DIR] [--quick]
       [--compare DIR]
Target: <= 1.5 s for 1,000,000 events.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ARROW_FLOOR_CHILD = r"""
import json, sys, time
import pandas as pd
t0 = time.perf_counter()
frame = pd.read_feather(sys.argv[1])
print(json.dumps({"rows": len(frame), "cold_s": time.perf_counter() - t0}))
"""

FLOOR_CHILD = r"""
import json, sqlite3, sys, time
import pandas as pd
t0 = time.perf_counter()
with sqlite3.connect(sys.argv[1]) as conn:
    frame = pd.read_sql_query(f"SELECT {sys.argv[2]} FROM plain ORDER BY id", conn, index_col="id")
print(json.dumps({"rows": len(frame), "cold_s": time.perf_counter() - t0}))
"""

CHILD = r"""
import gc, json, resource, sys, time
from catapult_nb.store.store import EventStore

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

store = EventStore(sys.argv[1])
before = rss_mib()
t0 = time.perf_counter()
frame = store.to_dataframe()
cold = time.perf_counter() - t0
peak = rss_mib()
t0 = time.perf_counter()
gc.collect()
collect = time.perf_counter() - t0
t0 = time.perf_counter()
again = store.to_dataframe()
warm = time.perf_counter() - t0
t0 = time.perf_counter()
first = frame["payload"].iloc[len(frame) // 2]["eventType"]
payload_touch = time.perf_counter() - t0
t0 = time.perf_counter()
gather = store.to_dataframe(gather_id=frame["gatherId"].dropna().iloc[-1])
filtered = time.perf_counter() - t0
print(json.dumps({"rows": len(frame), "cold_s": cold, "warm_s": warm, "rss_before_mib": before,
                  "gc_after_s": collect,
                  "rss_peak_mib": peak, "payload_first_touch_s": payload_touch,
                  "filtered_by_gather_s": filtered, "filtered_rows": len(gather),
                  "frame_memory_mib": frame.memory_usage(deep=False).sum() / 2**20}))
"""


def plain_columns() -> list[str]:
    """The floor table's columns: the frame's, with times as integer nanoseconds and no payload."""
    from catapult_nb.store.store import EVENT_COLUMNS

    return ["id"] + [f'"{name}"' for name in EVENT_COLUMNS if name != "payload"]


def fill(path: str, plain_path: str, count: int) -> float:
    from catapult_nb.store.store import EVENT_COLUMNS, EventStore, parse_time_ns

    store = EventStore(path, synchronous="OFF")  # filling is set-up, not what is measured
    plain = sqlite3.connect(plain_path, isolation_level=None)
    plain.execute("PRAGMA journal_mode=WAL")
    plain.execute("PRAGMA synchronous=OFF")
    columns = plain_columns()
    typed = [c + (" INTEGER" if c in ('"time"', '"received"') else " TEXT") for c in columns[1:]]
    plain.execute(f"CREATE TABLE plain (id INTEGER PRIMARY KEY, {', '.join(typed)})")
    insert = f"INSERT INTO plain VALUES ({', '.join('?' * len(columns))})"

    def plain_rows(items: list) -> list[tuple]:
        rows = []
        for payload, source, session, received in items:
            row: list = [None]
            for name in EVENT_COLUMNS:
                if name == "time":
                    row.append(parse_time_ns(payload.get("time")))
                elif name == "received":
                    row.append(int(received * 1e9))
                elif name == "source":
                    row.append(source)
                elif name == "session":
                    row.append(session)
                elif name != "payload":
                    row.append(payload.get(name))
            rows.append(tuple(row))
        return rows

    t0 = time.perf_counter()
    batch: list = []
    base = 1_785_000_000.0
    for i in range(count):
        call = f"c-{i // 8:023d}"
        kind = i % 8
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i)) + f".{i % 1000:03d}Z"
        if kind in (0, 4):
            payload = {
                "eventType": "speak",
                "callId": call,
                "status": "started" if kind == 0 else "done",
                "state": "PLAYBACK_START" if kind == 0 else "PLAYBACK_STOP",
                "time": stamp,
                "callUri": f"http://127.0.0.1/v1/users/u-x/calls/{call}",
            }
        elif kind in (1, 2, 5):
            payload = {
                "eventType": "dtmf",
                "callId": call,
                "dtmfDigit": "0123456789*#"[i % 12],
                "dtmfDuration": "160",
                "time": stamp,
            }
        elif kind in (3, 6):
            payload = {
                "eventType": "gather",
                "callId": call,
                "gatherId": f"gtr-{i:023d}",
                "state": "completed",
                "reason": ("max-digits", "terminating-digit", "inter-digit-timeout")[i % 3],
                "digits": f"{i % 1000:03d}",
                "tag": f"campaign-{i % 50}",
                "time": stamp,
            }
        else:
            payload = {
                "eventType": "hangup",
                "callId": call,
                "cause": "NORMAL_CLEARING",
                "callState": "completed",
                "from": "+15550000001",
                "to": f"+1555{i % 10000:07d}",
                "time": stamp,
            }
        batch.append((payload, "campaign", "bench", base + i))
        if len(batch) == 5000 or i == count - 1:
            store.add_many(batch)
            plain.executemany(insert, plain_rows(batch))
            batch.clear()
    store.close()
    plain.close()
    return time.perf_counter() - t0


WRITE_ARROW_CHILD = r"""
import sqlite3, sys
import pandas as pd
with sqlite3.connect(sys.argv[1]) as conn:
    frame = pd.read_sql_query(f"SELECT {sys.argv[3]} FROM plain ORDER BY id", conn)
frame.to_feather(sys.argv[2], compression="uncompressed")
print("{}")
"""


def run_child(code: str, *args: str, root: str | None = None) -> dict:
    """Run ``code`` in a fresh Python; with ``root``, with the catapult_nb package found there."""
    env = None if root is None else {**os.environ, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, check=True,
        env=env, cwd=root,  # cwd: `python -c` looks for packages there first
    )
    return json.loads(out.stdout)


def read_through(path: str) -> None:
    """Read the store's files once, so they are in the OS page cache."""
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as file:
                while file.read(1 << 24):
                    pass


def drop_from_page_cache(path: str) -> bool:
    """Ask the OS to forget the cached pages of the store's files; False where it cannot be asked."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)  # only clean pages can be dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes for each of store and floor")
    parser.add_argument("--quick", action="store_true", help="100,000 events, one round (for CI)")
    parser.add_argument("--keep", help="keep the two filled files in this directory and reuse them")
    parser.add_argument("--compare", help="a tree holding another catapult_nb to measure too")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds = 100_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"bench_events_{args.events}.sqlite3")
        plain_path = os.path.join(folder, f"bench_plain_{args.events}.sqlite3")
        arrow_path = os.path.join(folder, f"bench_plain_{args.events}.feather")
        if not (os.path.exists(path) and os.path.exists(plain_path)):
            for stale in (path, plain_path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(stale)
            seconds = fill(path, plain_path, args.events)
            print(f"filled {args.events:,} events (store and plain table) in {seconds:.1f} s")
        if not os.path.exists(arrow_path):
            # in a child: this process stays small, and its children (whose peak RSS is measured) too
            run_child(WRITE_ARROW_CHILD, plain_path, arrow_path, ", ".join(plain_columns()))
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + "-columns")
        read_through(path)  # in the page cache, like the other figures (a cold read is measured last)
        first = run_child(CHILD, path)  # scans SQLite and writes the columnar copy
        results, floors, arrow_floors, others = [], [], [], []
        for _ in range(args.rounds):
            results.append(run_child(CHILD, path))
            if args.compare:
                others.append(run_child(CHILD, path, root=os.path.abspath(args.compare)))
            floors.append(run_child(FLOOR_CHILD, plain_path, ", ".join(plain_columns())))
            arrow_floors.append(run_child(ARROW_FLOOR_CHILD, arrow_path))
        cold = run_child(CHILD, path) if drop_from_page_cache(path) else None
    result = min(results, key=lambda r: r["cold_s"])
    floor = min(f["cold_s"] for f in floors)
    arrow_floor = min(f["cold_s"] for f in arrow_floors)
    print(
        f"to_dataframe() of {result['rows']:,} events, fresh process: {result['cold_s']:.2f} s "
        f"(best of {args.rounds}; target <= {1.5 * args.events / 1_000_000:.2f} s); "
        f"again in the same process: {result['warm_s']:.2f} s"
    )
    print(
        f"  + first payload access (parses every row's JSON): {result['payload_first_touch_s']:.2f} s "
        f"= {result['cold_s'] + result['payload_first_touch_s']:.2f} s to a frame whose payloads are read"
    )
    print(f"  a full garbage collection right after the frame: {result['gc_after_s']:.2f} s")
    if others:
        other = min(o["cold_s"] for o in others)
        print(f"  {args.compare}: {other:.2f} s (best of {args.rounds}, same rounds); "
              f"this tree takes {result['cold_s'] / other:.2f}x that")
    print(f"first read with no columnar copy yet (scans SQLite, writes the copy): {first['cold_s']:.2f} s")
    if cold is not None:
        print(f"cold-cache read (store's files dropped from the page cache first): {cold['cold_s']:.2f} s "
              f"({cold['cold_s'] / result['cold_s']:.2f}x the best cached read)")
    else:
        print("cold-cache read: not measured (this OS has no posix_fadvise)")
    print(
        f"floor (same run): pd.read_sql_query of the same {len(plain_columns()) - 1} columns from a plain "
        f"table, fresh process: {floor:.2f} s; ratio {result['cold_s'] / floor:.2f}x"
    )
    print(
        f"floor (same run): pd.read_feather of the same columns from an uncompressed Arrow file, fresh "
        f"process: {arrow_floor:.2f} s; ratio {result['cold_s'] / arrow_floor:.2f}x"
    )
    print(
        f"peak RSS (resource.getrusage ru_maxrss): {result['rss_peak_mib']:.0f} MiB "
        f"(+{result['rss_peak_mib'] - result['rss_before_mib']:.0f} MiB over the "
        f"{result['rss_before_mib']:.0f} MiB before the call); "
        f"frame columns {result['frame_memory_mib']:.0f} MiB (shallow)"
    )
    print(
        f"to_dataframe(gather_id=...) {result['filtered_by_gather_s'] * 1000:.1f} ms "
        f"({result['filtered_rows']} rows)"
    )


if __name__ == "__main__":
    main()
