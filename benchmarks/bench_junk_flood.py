"""Valid callbacks' latency while the receiver's public URL is flooded with junk.

A receiver (a file store, ``synchronous=FULL`` as by default) runs on its own thread in this process,
as in a kernel. A sender process (the API) posts valid callbacks one at a time, ``--gap`` seconds
apart, and times each answer (stored and committed). This is done twice in the same run: first for
``--floor-seconds`` with nothing else going on (the floor), then for as long as another process sends
``--junk`` requests to paths without the secret token (a scanner), ``--flood-senders`` at a time.
The figure is p99(flood) / p99(floor), the median of ``--rounds`` rounds (the machine may be busy).

Usage: python benchmarks/bench_junk_flood.py [--junk 10000] [--floor-seconds 3]
Target: p99 with the flood <= 2x p99 without.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.store.store import EventStore

FLOOD = r"""
import asyncio, json, sys, time
import aiohttp

async def main(base, junk, senders):
    paths = iter(range(junk))
    statuses = {}
    async def sender(session):
        for n in paths:
            path = ("/wp-login.php", "/callbacks/guess-%d" % n, "/.env", "/admin?x=%d" % n)[n % 4]
            async with session.post(base + path, data=b"x" * 200) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(senders)))
    print(json.dumps({"elapsed": time.perf_counter() - start, "statuses": statuses}), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


VALID = r"""
import json, sys, threading, time
import requests

url, gap = sys.argv[1], float(sys.argv[2])
stop, latencies = threading.Event(), []

def send():
    with requests.Session() as http:
        http.trust_env = False
        n = int(time.time() * 1000)
        while not stop.is_set():
            n += 1
            event = {"eventType": "dtmf", "callId": "c-bench", "dtmfDigit": "5", "n": n,
                     "time": "2026-01-01T00:00:00.%03dZ" % (n % 1000)}
            start = time.perf_counter()
            response = http.post(url, json=event, timeout=10)
            latencies.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            time.sleep(gap)

print("ready", flush=True)
sys.stdin.readline()
worker = threading.Thread(target=send)
worker.start()
sys.stdin.readline()
stop.set()
worker.join()
print(json.dumps(latencies), flush=True)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start(script: str, *argv: str) -> subprocess.Popen[str]:
    """A helper process that prints ``ready``, starts on the first line it reads and stops on the second."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def tell(process: subprocess.Popen[str], line: str = "go") -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def answer(process: subprocess.Popen[str]) -> object:
    assert process.stdout is not None
    result = json.loads(process.stdout.readline())
    process.wait(30)
    return result


def one_round(receiver: CallbackReceiver, args: argparse.Namespace) -> tuple[list[float], list[float], dict]:
    """(latencies without a flood, latencies during one, the flood's report)."""
    valid = start(VALID, receiver.url, str(args.gap))
    tell(valid)
    time.sleep(args.floor_seconds)
    tell(valid, "stop")
    floor = answer(valid)
    flood = start(FLOOD, receiver.url.split("/callbacks")[0], str(args.junk), str(args.flood_senders))
    valid = start(VALID, receiver.url, str(args.gap))
    tell(valid)
    tell(flood)
    report = answer(flood)
    tell(valid, "stop")
    flooded = answer(valid)
    assert isinstance(floor, list) and isinstance(flooded, list) and isinstance(report, dict)
    return floor, flooded, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junk", type=int, default=10_000)
    parser.add_argument("--floor-seconds", type=float, default=3.0)
    parser.add_argument("--gap", type=float, default=0.002)
    parser.add_argument("--flood-senders", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as folder, EventStore(Path(folder) / "events.sqlite3") as store, \
            CallbackReceiver(store) as receiver:
        size_before = Path(store.path).stat().st_size
        for number in range(1, args.rounds + 1):
            floor, flooded, report = one_round(receiver, args)
            p99_floor, p99_flood = percentile(floor, 0.99), percentile(flooded, 0.99)
            ratios.append(p99_flood / p99_floor)
            print(
                f"round {number}: without a flood median {statistics.median(floor):.2f} ms, p99 "
                f"{p99_floor:.2f} ms ({len(floor)} callbacks); during {args.junk} junk requests "
                f"({args.junk / report['elapsed']:.0f}/s, answers {report['statuses']}) median "
                f"{statistics.median(flooded):.2f} ms, p99 {p99_flood:.2f} ms ({len(flooded)} callbacks): "
                f"p99 ratio {ratios[-1]:.2f}x"
            )
        stored_rejects = len(store.rejected())
        unknown = receiver.unknown_count
        size_after = Path(store.path).stat().st_size
    ratio = statistics.median(ratios)
    print(
        f"median p99 ratio over {args.rounds} rounds: {ratio:.2f}x; junk counted in memory: {unknown}, "
        f"rows written for it: {stored_rejects}, store file {size_before} -> {size_after} bytes "
        "(the valid callbacks only)"
    )
    print("target: p99 with the flood <= 2x p99 without:", "met" if ratio <= 2 else "NOT met")


if __name__ == "__main__":
    main()
