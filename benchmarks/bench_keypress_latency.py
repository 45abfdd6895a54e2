"""Latency from a key press on the virtual phone to the gather's row in ``to_dataframe()``, at speed 1.

A simulated call is answered; then, again and again, a one-digit gather (``maxDigits: 1``) is created
and the virtual phone presses one key. The clock runs from just before the press request is sent
until ``store.to_dataframe(gather_id=...)`` returns a frame holding that gather's event, waiting with
``receiver.wait_for`` (woken by the store's commit, no polling). The path covers the press request,
the simulator's engine and callback delivery, the receiver, the SQLite commit and the frame.

The floor, measured between the presses of the same run: one bare loopback HTTP round trip (a
``requests`` POST to an aiohttp handler that answers at once, on its own thread) plus one SQLite
commit of one row in WAL mode with the store's ``synchronous`` setting. The press path needs at least
two round trips (the press, then the callback) and one commit, so a ratio near 2 is the best possible.

Usage: python benchmarks/bench_keypress_latency.py [--presses 40] [--synchronous FULL]
Target: median <= 5 ms; reported as a ratio to the floor because the machine's load moves both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from aiohttp import web

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator
from catapult_nb.store.store import EventStore


@contextlib.contextmanager
def bare_server() -> Iterator[str]:
    """An aiohttp server on its own thread whose one handler reads the body and answers 200."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


class Floor:
    """One bare loopback HTTP round trip plus one SQLite commit with the same ``synchronous`` setting."""

    def __init__(self, url: str, path: Path, synchronous: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, json TEXT NOT NULL)")
        self.body = {"eventType": "gather", "callId": "c-" + "x" * 23, "digits": "5", "state": "completed"}

    def sample(self) -> tuple[float, float]:
        start = time.perf_counter()
        self.http.post(self.url, json=self.body, timeout=10).raise_for_status()
        sent = time.perf_counter()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO events (json) VALUES (?)", (str(self.body),))
        self.db.execute("COMMIT")
        committed = time.perf_counter()
        return (sent - start) * 1000, (committed - sent) * 1000

    def close(self) -> None:
        self.http.close()
        self.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--synchronous", default="FULL", help="the store's SQLite synchronous setting")
    args = parser.parse_args()
    latencies: list[float] = []
    to_commit: list[float] = []
    rtts: list[float] = []
    commits: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        floor = Floor(stack.enter_context(bare_server()), tmp / "floor.sqlite3", args.synchronous)
        stack.callback(floor.close)
        sim = stack.enter_context(Simulator(speed=1.0))
        http = stack.enter_context(requests.Session())
        http.trust_env = False
        http.auth = (sim.api_token, sim.api_secret)
        root = f"{sim.api_url}/users/{sim.user_id}"
        store = stack.enter_context(EventStore(tmp / "latency.sqlite3", synchronous=args.synchronous))
        receiver = stack.enter_context(CallbackReceiver(store))
        created = http.post(
            f"{root}/calls",
            json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": receiver.url},
            timeout=10,
        )
        call_id = created.headers["Location"].rsplit("/", 1)[1]
        receiver.wait_for(call_id=call_id, event_type="answer", timeout=10)
        phone = sim.phone
        for _ in range(3):  # warm both paths' connections
            floor.sample()
        for _ in range(args.presses):
            rtt, commit = floor.sample()
            rtts.append(rtt)
            commits.append(commit)
            made = http.post(f"{root}/calls/{call_id}/gather", json={"maxDigits": "1"}, timeout=10)
            gather_id = made.headers["Location"].rsplit("/", 1)[1]
            start = time.perf_counter()
            phone.press(call_id, "5")
            receiver.wait_for(gather_id=gather_id, event_type="gather", timeout=10)
            committed = time.perf_counter()
            frame = store.to_dataframe(gather_id=gather_id)
            done = time.perf_counter()
            assert frame["digits"].tolist() == ["5"], frame
            latencies.append((done - start) * 1000)
            to_commit.append((committed - start) * 1000)
    latencies.sort()
    p90 = latencies[int(0.9 * (len(latencies) - 1))]
    median = statistics.median(latencies)
    floor_ms = statistics.median(rtts) + statistics.median(commits)
    print(
        f"key press -> gather row in to_dataframe(), speed 1, synchronous={args.synchronous}, "
        f"{len(latencies)} presses: median {median:.1f} ms, p90 {p90:.1f} ms, max {latencies[-1]:.1f} ms "
        f"(target: median <= 5 ms)"
    )
    committed = statistics.median(to_commit)
    print(f"  of which press -> event committed (wait_for returns): median {committed:.1f} ms")
    print(
        f"floor (same run): bare loopback HTTP round trip {statistics.median(rtts):.2f} ms "
        f"+ one SQLite commit {statistics.median(commits):.2f} ms = {floor_ms:.2f} ms; "
        f"ratio {median / floor_ms:.1f}x"
    )


if __name__ == "__main__":
    main()
