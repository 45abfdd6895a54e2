"""Sustained callbacks per second into the store, from many concurrent senders, with zero loss.

The receiver (default settings: SQLite WAL, synchronous=FULL, group commit on its writer thread) is
compared, in the same run and with the same load, with a bare aiohttp handler that answers 200 and
stores nothing, and with the simplest alternative design: ``store.add`` per request in the loop's
default executor. The load comes from a separate process (aiohttp client, N concurrent senders), so
the servers have the interpreter to themselves.

Each line also gives the CPU time the sender process and the server's process spent during the measured
window, in cores (CPU seconds per wall second, ``time.process_time``). The sender is one asyncio
thread: near 1.00 core it is the bottleneck, and that rate is a floor for the server, not its ceiling.

Usage: python benchmarks/bench_receiver_throughput.py [--events 20000] [--senders 64]
Targets: >= 3,000/s and >= 0.6x the bare handler.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.store.store import EventStore

LOAD = r"""
import asyncio, json, sys, time
import aiohttp

async def main(url, events, senders):
    counter = iter(range(events))
    statuses = {}
    async def sender(session, worker):
        for n in counter:
            body = {"eventType": "dtmf", "callId": f"c-{worker:04d}", "dtmfDigit": "0123456789"[n % 10],
                    "time": "2026-01-01T00:00:00.000Z", "n": n}
            async with session.post(url, json=body) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm up the connections, then measure
        await asyncio.gather(*(session.get(url.rsplit("/", 1)[0] + "/warm") for _ in range(senders)))
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender(session, w) for w in range(senders)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"elapsed": elapsed, "statuses": statuses, "sender_cpu_s": cpu}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


#: Per run: (sender CPU, server-process CPU), each in cores over the sender's measured window.
CPU: dict[str, tuple[float, float]] = {}


def load(url: str, events: int, senders: int, name: str) -> dict:
    server_cpu = time.process_time()  # this process's threads: the server under test
    out = subprocess.run(
        [sys.executable, "-c", LOAD, url, str(events), str(senders)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    server_cpu = time.process_time() - server_cpu
    result = json.loads(out.stdout)
    # the server's CPU includes the warm-up, a few dozen requests: negligible beside the window
    CPU[name] = (result["sender_cpu_s"] / result["elapsed"], server_cpu / result["elapsed"])
    return result


def cpu_note(name: str) -> str:
    sender, server = CPU[name]
    return f"sender {sender:.2f} / server {server:.2f} cores" + (" (sender-bound)" if sender >= 0.9 else "")


class ThreadServer:
    """An aiohttp app on its own thread and loop, like the receiver."""

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = 0

        async def open_() -> web.AppRunner:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            return runner

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.runner = self.loop.run_until_complete(open_())
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def run_bare(events: int, senders: int) -> float:
    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    server = ThreadServer(bare)
    try:
        result = load(f"http://127.0.0.1:{server.port}/callbacks/x", events, senders, "bare")
    finally:
        server.stop()
    assert result["statuses"] == {"200": events}, result
    return events / result["elapsed"]


def run_executor(path: str, events: int, senders: int) -> float:
    store = EventStore(path)

    async def per_request(request: web.Request) -> web.Response:
        if request.method != "POST":  # the load's warm-up requests
            return web.Response(status=404)
        payload = json.loads(await request.read())
        await asyncio.get_running_loop().run_in_executor(None, store.add, payload)
        return web.Response(text="ok")

    server = ThreadServer(per_request)
    try:
        result = load(f"http://127.0.0.1:{server.port}/callbacks/x", events, senders, "executor")
    finally:
        server.stop()
    stored = len(store)
    store.close()
    statuses = {k: v for k, v in result["statuses"].items() if k != "404"}  # the warm-up GETs
    assert statuses == {"200": events} and stored == events, (result, stored)
    return events / result["elapsed"]


def run_receiver(path: str, events: int, senders: int, synchronous: str) -> float:
    store = EventStore(path, synchronous=synchronous)
    with CallbackReceiver(store) as receiver:
        result = load(receiver.url, events, senders, synchronous)
    stored = len(store)
    frame = store.to_dataframe()
    loss = events - frame["payload"].map(lambda p: p["n"]).nunique()
    store.close()
    statuses = {k: v for k, v in result["statuses"].items() if k != "404"}  # the warm-up GETs
    assert statuses == {"200": events} and stored == events and loss == 0, (result, stored, loss)
    return events / result["elapsed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=64)
    args = parser.parse_args()
    print(
        f"{args.events:,} callbacks from {args.senders} concurrent senders (aiohttp client, own process); "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        bare = run_bare(args.events, args.senders)
        print(f"  bare aiohttp handler (stores nothing):     {bare:8,.0f}/s  [{cpu_note('bare')}]")
        full = run_receiver(os.path.join(tmp, "full.sqlite3"), args.events, args.senders, "FULL")
        print(
            f"  CallbackReceiver, synchronous=FULL:        {full:8,.0f}/s  "
            f"({full / bare:.2f}x bare; zero loss, every event stored once)  [{cpu_note('FULL')}]"
        )
        normal = run_receiver(os.path.join(tmp, "normal.sqlite3"), args.events, args.senders, "NORMAL")
        print(f"  CallbackReceiver, synchronous=NORMAL:      {normal:8,.0f}/s  ({normal / bare:.2f}x bare)"
              f"  [{cpu_note('NORMAL')}]")
        per = run_executor(os.path.join(tmp, "executor.sqlite3"), args.events, args.senders)
        print(f"  store.add per request in an executor:      {per:8,.0f}/s  ({per / bare:.2f}x bare)"
              f"  [{cpu_note('executor')}]")
    met = full >= 3000 and full >= 0.6 * bare
    print(f"target: >= 3,000/s and >= 0.6x bare -> {'met' if met else 'NOT met'}")
    if CPU["bare"][0] >= 0.9:
        print("the sender used a whole core against the bare handler: the bare rate (and so the x-bare "
              "ratios' floor) is the sender's limit, not the server's")


if __name__ == "__main__":
    main()
