"""Scale: 1,000 concurrent calls, each completing a gather end to end over HTTP, at speed 20.

The simulator runs as ``catapult-nb simulator`` in its own process (as a second notebook or a CI job
would use it). Each call: create an outbound call, wait for its ``answer`` callback, start a gather with
a prompt, press ``1234`` on the virtual phone, wait for the ``gather`` callback (reason ``max-digits``),
hang up, wait for ``hangup``. Every callback is counted at a receiver in this process; the run fails
(exit 1) if any expected callback is missing or a gather ends with the wrong result.

    .venv/bin/python benchmarks/bench_simulator_scale.py [--calls 1000] [--speed 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import sys
import time

import aiohttp
from aiohttp import web

EVENTS_PER_CALL = ("answer", "speak", "speak", "gather", "hangup")
# A generous timeout (1.5 s of wall time at speed 20) so HTTP latency under load cannot end a gather
# before its keys arrive.
GATHER = {"maxDigits": 4, "interDigitTimeout": 30, "prompt": {"sentence": "Enter your four digit code"}}


class Receiver:
    """Collects callbacks; ``wait(call_id, event_type)`` resolves when that event has arrived."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.events: dict[tuple[str, str], dict] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[dict]] = {}

    def _future(self, key: tuple[str, str]) -> asyncio.Future[dict]:
        if key not in self._waiters:
            self._waiters[key] = asyncio.get_running_loop().create_future()
        return self._waiters[key]

    async def handle(self, request: web.Request) -> web.Response:
        event = await request.json()
        self.counts[event["eventType"]] += 1
        future = self._future((event["callId"], event["eventType"]))
        if not future.done():
            future.set_result(event)
        return web.Response()

    async def wait(self, call_id: str, event_type: str, timeout: float) -> dict:
        return await asyncio.wait_for(asyncio.shield(self._future((call_id, event_type))), timeout)


async def one_call(http: aiohttp.ClientSession, base: str, receiver: Receiver, url: str) -> bool:
    root = f"{base}/v1/users/u-simulator/calls"
    async with http.post(root, json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": url}) as r:
        call_id = r.headers["Location"].rsplit("/", 1)[1]
    await receiver.wait(call_id, "answer", 60)
    async with http.post(f"{root}/{call_id}/gather", json=GATHER) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{base}/_sim/calls/{call_id}/press", json={"digits": "1234", "gap": 0.25}) as r:
        assert r.status == 202, await r.text()
    gather = await receiver.wait(call_id, "gather", 60)
    async with http.post(f"{root}/{call_id}", json={"state": "completed"}) as r:
        assert r.status == 200, await r.text()
    await receiver.wait(call_id, "hangup", 60)
    return (gather["reason"], gather["digits"]) == ("max-digits", "1234")


async def run(calls: int, speed: float) -> int:
    simulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "catapult_nb",
        "simulator",
        "--port",
        "0",
        "--speed",
        str(speed),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(simulator.stdout.readline(), 30)).decode()  # type: ignore[union-attr]
        base = re.search(r"http://\S+", line).group(0)  # type: ignore[union-attr]

        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/cb", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"

        connector = aiohttp.TCPConnector(limit=200)
        headers = {"Authorization": aiohttp.encode_basic_auth("t-simulator", "simulator-secret")}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
            started = time.perf_counter()
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(one_call(http, base, receiver, url) for _ in range(calls)), return_exceptions=True
                ),
                300,
            )
            wall = time.perf_counter() - started
            async with http.get(f"{base}/_sim/deliveries") as r:
                deliveries = await r.json()
        await runner.cleanup()
    finally:
        simulator.terminate()
        await simulator.wait()

    errors = [r for r in results if isinstance(r, BaseException)]
    wrong = sum(1 for r in results if r is False)
    expected = calls * len(EVENTS_PER_CALL)
    per_type = collections.Counter(EVENTS_PER_CALL)
    lost = sum(max(0, calls * n - receiver.counts[kind]) for kind, n in per_type.items())
    received = sum(receiver.counts.values())
    failed_attempts = sum(1 for d in deliveries if d["error"])
    print(f"simulator scale: {calls} concurrent calls, speed {speed:g}, simulator in its own process")
    print(f"  {'wall time':<28}{wall:>10.2f} s")
    print(f"  {'callbacks expected':<28}{expected:>10}")
    print(f"  {'callbacks received':<28}{received:>10}   {dict(receiver.counts)}")
    print(f"  {'callbacks lost':<28}{lost:>10}")
    print(f"  {'failed delivery attempts':<28}{failed_attempts:>10}")
    print(f"  {'callbacks per second':<28}{received / wall:>10.0f}")
    print(f"  {'calls per second':<28}{calls / wall:>10.1f}")
    print(f"  {'wrong gather results':<28}{wrong:>10}")
    if errors:
        print(f"  {'calls that failed':<28}{len(errors):>10}   first: {errors[0]!r}")
    return 1 if errors or wrong or lost or received != expected else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()
    return asyncio.run(run(args.calls, args.speed))


if __name__ == "__main__":
    sys.exit(main())
