"""Replaying 1,000 stored callbacks: to a local app (every row 2xx), and to a closed port (every row an
error, the replay going on).

The events are real ones: a simulated session places calls until its store holds 1,000 events. The app is
a bare aiohttp server on a thread that answers 204. The floor, measured in the same run, is the same
1,000 POSTs sent by a plain ``requests.Session`` loop with no replay around it.

Usage: python benchmarks/bench_replay.py [--events 1000]
Targets: 1,000 rows all 2xx; to a closed port 1,000 errors in under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time

import requests
from aiohttp import web

from catapult_nb import Session
from catapult_nb.session.replay import replay


def stored_events(count: int):
    with Session.simulated(speed=200, store=":memory:") as session:
        while len(session.events) < count:
            call = session.call("+15551234567")
            gather = call.gather(max_digits=5)
            session.phone.press(call, "12345", gap=0.01)
            gather.wait()
            call.hang_up()
            session.simulator.wait_idle()
        events = session.events.head(count).copy()
        events["payload"] = [payload.to_dict() for payload in events["payload"]]  # read before the store goes
        return events


class App:
    """A local callback server that answers 204, on its own thread and loop."""

    def __enter__(self) -> str:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/catapult", answer)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", 0).start())
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())
            self.loop.close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/catapult"

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def floor(payloads: list[dict], url: str) -> float:
    started = time.perf_counter()
    with requests.Session() as http:
        http.trust_env = False
        for payload in payloads:
            http.post(url, json=payload, timeout=10).close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    count = parser.parse_args().events
    events = stored_events(count)
    payloads = [dict(p) for p in events["payload"]]
    with App() as url:
        started = time.perf_counter()
        rows = replay(events, url, progress=False)
        took = time.perf_counter() - started
        bare = floor(payloads, url)
    ok = int(rows["status"].between(200, 299).sum())
    print(f"to a local app: {len(rows)} rows, {ok} 2xx, in {took:.2f} s ({len(rows) / took:,.0f}/s); "
          f"plain requests loop {bare:.2f} s; ratio {took / bare:.2f}x")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    started = time.perf_counter()
    rows = replay(events, f"http://127.0.0.1:{closed}/catapult", progress=False)
    took = time.perf_counter() - started
    errors = int(rows["error"].str.startswith("could not connect").sum())
    print(f"to a closed port: {len(rows)} rows, {errors} connection errors, in {took:.2f} s")


if __name__ == "__main__":
    main()
