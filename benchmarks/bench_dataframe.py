"""1,000,000 stored events -> ``EventStore.to_dataframe()``: time and peak memory.

The store is filled once (realistic gather/dtmf/speak/hangup events over many calls), then a fresh
process opens it — as a restarted kernel would — and builds the frame. Peak memory is that process's
peak resident set size from ``resource.getrusage`` (ru_maxrss), before and after the call.

Usage: python benchmarks/bench_dataframe.py [--events 1000000] [--keep PATH]
Target: <= 3 s for 1,000,000 events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
from catapult_nb.events import EventStore

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

store = EventStore(sys.argv[1])
before = rss_mib()
t0 = time.perf_counter()
frame = store.to_dataframe()
cold = time.perf_counter() - t0
peak = rss_mib()
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
                  "rss_peak_mib": peak, "payload_first_touch_s": payload_touch,
                  "filtered_by_gather_s": filtered, "filtered_rows": len(gather),
                  "frame_memory_mib": frame.memory_usage(deep=False).sum() / 2**20}))
"""


def fill(path: str, count: int) -> float:
    from catapult_nb.events import EventStore

    store = EventStore(path, synchronous="OFF")  # filling is set-up, not what is measured
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
        if len(batch) == 5000:
            store.add_many(batch)
            batch.clear()
    store.add_many(batch)
    store.close()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", help="reuse/keep the store at this path instead of a temporary file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "bench_events.sqlite3")
        if not os.path.exists(path):
            seconds = fill(path, args.events)
            print(
                f"filled {args.events:,} events in {seconds:.1f} s ({args.events / seconds:,.0f}/s, add_many)"
            )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, path], capture_output=True, text=True, timeout=300, check=True
        )
        result = json.loads(out.stdout)
    print(
        f"to_dataframe() of {result['rows']:,} events, fresh process: {result['cold_s']:.2f} s "
        f"(target <= 3 s); again in the same process: {result['warm_s']:.2f} s"
    )
    print(
        f"peak RSS (resource.getrusage ru_maxrss): {result['rss_peak_mib']:.0f} MiB "
        f"(+{result['rss_peak_mib'] - result['rss_before_mib']:.0f} MiB over the "
        f"{result['rss_before_mib']:.0f} MiB before the call); "
        f"frame columns {result['frame_memory_mib']:.0f} MiB (shallow)"
    )
    print(
        f"first payload access (loads the frame's JSON texts): {result['payload_first_touch_s']:.2f} s; "
        f"to_dataframe(gather_id=...) {result['filtered_by_gather_s'] * 1000:.1f} ms "
        f"({result['filtered_rows']} rows)"
    )


if __name__ == "__main__":
    main()
