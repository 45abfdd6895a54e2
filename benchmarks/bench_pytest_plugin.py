"""How long the ``catapult_simulator`` fixture takes to set up and tear down.

Each round starts a :class:`~catapult_nb.pytest_plugin.CatapultSimulator` (simulator thread, event loop,
listening socket, virtual phone), asks it for its health over HTTP, and closes it. The floor, measured in
the same run, is the least any background aiohttp server needs: a thread with its own loop serving an
empty app on a free port, one request, then stop.

A second pair of figures: set-up, one call and tear-down, through the fixture as a v1 app's test uses
it (``incoming()`` rings a WSGI app that answers ``incomingcall``; the phone hangs up; ``wait_for`` the
``hangup``) and as a v2 app's test uses ``.v2`` (``incoming()`` rings an app whose BXML hangs up;
``wait_for`` the ``disconnect``).

Usage: python benchmarks/bench_pytest_plugin.py [--rounds 30]
Target: median set-up plus tear-down well under a second (≤ 0.1 s); the v2 round with one call within
1.5× the v1 round's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

import requests
from aiohttp import web

from catapult_nb.pytest_plugin import CatapultSimulator


def fixture_round() -> float:
    started = time.perf_counter()
    with CatapultSimulator() as sim:
        sim.phone.health()
    return time.perf_counter() - started


def v1_app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("204 No Content", [])
    return [b""]


def v2_app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "application/xml")])
    return [b"<Response><Hangup/></Response>"]


def v1_call_round() -> float:
    started = time.perf_counter()
    with CatapultSimulator() as sim:
        url = sim.serve(v1_app)
        call_id = sim.incoming("+15551230000", "+15557654321", url + "/cb")
        sim.wait_for(call_id, "incomingcall")
        sim.hang_up(call_id)
        sim.wait_for(call_id, "hangup")
    return time.perf_counter() - started


def v2_call_round() -> float:
    started = time.perf_counter()
    with CatapultSimulator() as sim:
        v2 = sim.v2
        url = v2.serve(v2_app)
        call_id = v2.incoming("+15551230000", "+15557654321", url + "/initiate")
        v2.wait_for(call_id, "disconnect")
    return time.perf_counter() - started


def floor_round() -> float:
    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(web.Application(), handle_signals=False)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    with requests.Session() as http:
        http.get(f"http://127.0.0.1:{runner.addresses[0][1]}/health", timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    fixture_round(), floor_round()  # imports and first-use costs out of the way
    fixture = [fixture_round() for _ in range(rounds)]
    floor = [floor_round() for _ in range(rounds)]
    med_fixture, med_floor = statistics.median(fixture), statistics.median(floor)
    print(f"catapult_simulator set-up + tear-down: median {med_fixture * 1000:.1f} ms, "
          f"max {max(fixture) * 1000:.1f} ms ({rounds} rounds)")
    print(f"floor (bare aiohttp server on a thread): median {med_floor * 1000:.1f} ms")
    print(f"ratio to the floor: {med_fixture / med_floor:.2f}x")
    v1_call_round(), v2_call_round()
    v1 = [v1_call_round() for _ in range(rounds)]
    v2 = [v2_call_round() for _ in range(rounds)]
    med_v1, med_v2 = statistics.median(v1), statistics.median(v2)
    print(f"set-up + one call + tear-down: v1 median {med_v1 * 1000:.1f} ms, v2 (.v2, BXML) median "
          f"{med_v2 * 1000:.1f} ms: {med_v2 / med_v1:.2f}x v1 (target: <= 1.5x)")


if __name__ == "__main__":
    main()
