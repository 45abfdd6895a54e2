"""Timer fidelity: 1,000 and then 5,000 concurrent gathers at speed 1, each ending on its inter-digit timeout.

Reports how late the simulator's gather timers ran (wall ms after their deadline, p50/p99/max; targets
p99 <= 10 ms at 1,000 and <= 25 ms at 5,000 on a 2-core machine) and, end to end, how late each
``gather`` callback reached a receiver in another process. The inter-digit timeout is long enough for
every gather to be created before the first one ends (5 s, or 3 ms per gather when that is longer), so
all of them wait at once. (A receiver in the simulator's own process, as in a notebook kernel, shares its
interpreter lock and roughly doubles the CPU per callback; at 500 callbacks in about a second that
saturates one core and the tail grows to ~100 ms.)

The floor, measured in the same process right after each round: as many bare asyncio ``call_at`` timers,
due at the same offsets as the gathers' deadlines, on a fresh loop in a thread of its own, doing nothing
but noting how late they ran. It is what the machine's scheduler (and a loaded core) costs any timer;
the ratio is the simulator's p99 over the floor's.
Exits 1 when a callback is lost or the run does not finish within its time bound.

    .venv/bin/python benchmarks/bench_timer_fidelity.py [--gathers 1000 5000] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from catapult_nb.simulator import Simulator

# A callback receiver in its own process, so its CPU does not share the simulator's interpreter.
# It notes time.monotonic() (one system-wide clock) when each gather event arrives; GET /wait?n=N
# long-polls until N have arrived (or 60 s pass) and returns {callId: arrival}.
RECEIVER = r"""
import asyncio, json, sys, time
from aiohttp import web
arrived, changed = {}, asyncio.Condition()
async def callback(request):
    event = await request.json()
    if event.get("eventType") == "gather":
        arrived[event["callId"]] = time.monotonic()
        async with changed:
            changed.notify_all()
    return web.Response()
async def wait(request):
    n = int(request.query["n"])
    async with changed:
        try:
            await asyncio.wait_for(changed.wait_for(lambda: len(arrived) >= n), 60)
        except asyncio.TimeoutError:
            pass
    return web.json_response(arrived)
async def main():
    app = web.Application()
    app.router.add_post("/cb", callback)
    app.router.add_get("/wait", wait)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class Receiver:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/cb"

    def wait(self, n: int) -> dict[str, float]:
        return requests.get(self.url.replace("/cb", "/wait"), params={"n": n}, timeout=90).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bare_timer_lateness(offsets: list[float], lead: float = 0.5) -> list[float]:
    """The floor: wall ms by which bare ``call_at`` timers due at ``offsets`` (seconds from the first,
    which is due ``lead`` seconds from now) ran late, on a fresh loop in a thread of its own."""
    late: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        start = loop.time() + lead

        def fire(when: float) -> None:
            late.append((loop.time() - when) * 1000)
            if len(late) == len(offsets):
                done.set_result(None)

        for offset in offsets:
            loop.call_at(start + offset, fire, start + offset)
        await done

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="bare-timers")
    thread.start()
    thread.join()
    return late


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


TARGETS = {1000: 10.0, 5000: 25.0}  # p99 timer lateness, ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gathers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--timeout", type=float, help="interDigitTimeout, seconds (default: see above)")
    args = parser.parse_args()
    lost = 0
    for gathers in args.gathers:
        timeout = args.timeout or max(5.0, 0.003 * gathers)
        lost += run(gathers, timeout, TARGETS.get(gathers, 25.0))
    return 1 if lost else 0


def run(gathers: int, timeout: float, target_ms: float) -> int:
    """One round of ``gathers`` concurrent gathers; prints the figures and returns how many were lost."""
    receiver = Receiver()
    with Simulator(speed=1) as sim:
        root = f"{sim.api_url}/users/{sim.user_id}"
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "http"):
                local.http = requests.Session()
                local.http.auth = (sim.api_token, sim.api_secret)
            return local.http

        def answered_call(_: int) -> str:
            http = session()
            response = http.post(
                f"{sim.base_url}/_sim/incoming",
                json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": receiver.url},
                timeout=30,
            )
            call_id = response.json()["callId"]
            http.post(f"{root}/calls/{call_id}", json={"state": "active"}, timeout=30).raise_for_status()
            return call_id

        created: dict[str, float] = {}

        def gather(call_id: str) -> None:
            response = session().post(
                f"{root}/calls/{call_id}/gather", json={"interDigitTimeout": timeout}, timeout=30
            )
            created[call_id] = time.monotonic()  # an upper bound of the gather's start
            response.raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            calls = list(pool.map(answered_call, range(gathers)))
            setup_started = time.perf_counter()
            list(pool.map(gather, calls))
            setup = time.perf_counter() - setup_started
        arrived = receiver.wait(gathers)
        lateness = [s * 1000 for s in sim.timer_lateness]
        arrivals = [(arrived[c] - created[c] - timeout) * 1000 for c in calls if c in arrived]
    receiver.stop()
    first = min(created.values())
    floor = bare_timer_lateness(sorted(at - first for at in created.values()))

    lost = gathers - len(arrived)
    print(f"timer fidelity: {gathers} concurrent gathers, interDigitTimeout {timeout:g} s, speed 1")
    print(f"  gathers created in {setup:.2f} s (all waiting at once: {setup < timeout})")
    print(f"  {'measure':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    if lateness:
        print(
            f"  {'timer lateness (in simulator)':<34}{percentile(lateness, 0.5):>9.2f}"
            f"{percentile(lateness, 0.99):>9.2f}{max(lateness):>9.2f}"
        )
    print(
        f"  {'floor: bare asyncio timers':<34}{percentile(floor, 0.5):>9.2f}"
        f"{percentile(floor, 0.99):>9.2f}{max(floor):>9.2f}"
    )
    if arrivals:
        print(
            f"  {'callback arrival after deadline*':<34}{percentile(arrivals, 0.5):>9.2f}"
            f"{percentile(arrivals, 0.99):>9.2f}{max(arrivals):>9.2f}"
        )
        print("  * measured from the client's 201, so it can read slightly low; includes delivery")
    print(f"  callbacks lost: {lost}")
    target = lateness and percentile(lateness, 0.99) <= target_ms
    if lateness:
        p99, floor_p99 = percentile(lateness, 0.99), percentile(floor, 0.99)
        ratio = p99 / max(floor_p99, 0.01)
        print(f"  p99 beside the floor's p99: {p99:.2f} / {floor_p99:.2f} ms = {ratio:.1f}x")
    print(f"  target p99 timer lateness <= {target_ms:g} ms: {'met' if target else 'NOT met'}")
    return lost


if __name__ == "__main__":
    sys.exit(main())
