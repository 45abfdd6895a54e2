"""v2 at scale: 1,000 concurrent v2 calls at speed 20, each a two-step BXML flow; and the cost of BXML.

The flow: the ``answer`` webhook's BXML asks for four digits (``<Gather gatherUrl="gather">`` with a
nested ``<SpeakSentence>``); the virtual phone presses ``1234`` at moments on the simulator's clock
(40 API s after the answer, half a second apart: a margin for the webhooks' latency under load); the
``gather`` webhook's BXML says thank you and hangs up; ``disconnect`` follows. The app is an aiohttp
server in this process; every webhook it receives is counted, and the run fails (exit 1) if any is
missing or a gather got other digits.

Figures, each beside a floor measured in the same run:

- the wall time of the 1,000 calls, beside the calls' own timeline at that speed (their API time
  divided by the speed: what an infinitely fast machine would take) and one call alone;
- the simulator's work per webhook answer, measured inside the loaded run: parsing the BXML
  (``parse_bxml``) plus running its verbs up to their first wait (each synchronous step of the
  interpreter), as the simulator thread's CPU time (``time.thread_time``: the app and the driver share
  this process, and a step that waits for the GIL is not the simulator's work), median and 99th
  percentile; beside, in a quiet loop, ``parse_bxml`` and the standard
  library's bare ``xml.etree.ElementTree.fromstring`` (no defences, no checks) of the same documents.

Sentences are timed by the 150 words-per-minute estimate (``prompt_timing="estimate"``), so the figures
are the simulator's, not espeak-ng's.

    python benchmarks/bench_v2.py [--calls 1000] [--speed 20]

Targets: 0 webhooks lost; BXML parse and execution per webhook median <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather gatherUrl="gather" maxDigits="4" '
    'firstDigitTimeout="60"><SpeakSentence voice="julie">Enter your four digit code</SpeakSentence>'
    "</Gather></Response>"
)
THANKS = "<Response><SpeakSentence>Thank you. Goodbye.</SpeakSentence><Hangup/></Response>"
KEYS_AFTER = 40.0  # API seconds after the answer (2 s wall at speed 20): margin for webhook latency
GAP = 0.5
CALL_API_SECONDS = 1.0 + KEYS_AFTER + 3 * GAP + 1.6  # ring, wait, keys, "Thank you. Goodbye." (4 words)
WEBHOOKS = ("answer", "gather", "disconnect")


class App:
    """The v2 app: answers BXML, presses the keys through the virtual phone, counts every webhook."""

    def __init__(self, phone: Any) -> None:
        self.phone = phone
        self.counts: collections.Counter[str] = collections.Counter()
        self.digits: dict[str, str] = {}
        self.done: dict[str, asyncio.Future[None]] = {}
        self.presses: set[asyncio.Task[None]] = set()

    def finished(self, call_id: str) -> asyncio.Future[None]:
        if call_id not in self.done:
            self.done[call_id] = asyncio.get_running_loop().create_future()
        return self.done[call_id]

    async def handle(self, request: web.Request) -> web.Response:
        event = await request.json()
        kind, call_id = event["eventType"], event["callId"]
        self.counts[kind] += 1
        if kind == "answer":
            answered = datetime.fromisoformat(event["answerTime"].replace("Z", "+00:00"))
            moments = [answered + timedelta(seconds=KEYS_AFTER + i * GAP) for i in range(4)]
            stamps = [m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z" for m in moments]
            task = asyncio.get_running_loop().create_task(self.phone.press(call_id, "1234", at=stamps))
            self.presses.add(task)
            task.add_done_callback(self.presses.discard)
            return web.Response(text=ANSWER, content_type="application/xml")
        if kind == "gather":
            self.digits[call_id] = event["digits"]
            return web.Response(text=THANKS, content_type="application/xml")
        if kind == "disconnect":
            future = self.finished(call_id)
            if not future.done():
                future.set_result(None)
        return web.Response()


async def run_calls(sim: Any, n: int, timeout: float) -> tuple[float, App, int]:
    from catapult_nb.simulator.phone import AsyncVirtualPhone

    async with AsyncVirtualPhone(sim.base_url, limit=64) as phone:
        app = App(phone)
        server = web.Application()
        server.router.add_route("POST", "/{path:.*}", app.handle)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        calls_url = f"{sim.v2_api_url}/accounts/{sim.account_id}/calls"
        pair = base64.b64encode(f"{sim.api_token}:{sim.api_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {pair}"}
        try:
            connector = aiohttp.TCPConnector(limit=64)
            async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

                async def create() -> str:
                    body = {"to": "+15551239999", "from": "+15551230000", "applicationId": "bench",
                            "answerUrl": f"{base}/answer", "disconnectUrl": f"{base}/disconnect"}
                    async with http.post(calls_url, json=body) as response:
                        assert response.status == 201, await response.text()
                        return str((await response.json())["callId"])

                start = time.perf_counter()
                ids = await asyncio.gather(*(create() for _ in range(n)))
                waits = [app.finished(call_id) for call_id in ids]
                _, pending = await asyncio.wait(waits, timeout=timeout)
                wall = time.perf_counter() - start
                await sim_idle(sim)
        finally:
            await runner.cleanup()
        return wall, app, len(pending)


async def sim_idle(sim: Any) -> None:
    await asyncio.to_thread(sim.wait_idle, 30)


class Timed:
    """Await a coroutine, timing each synchronous step it takes between waits (the thread's CPU time)."""

    def __init__(self, coro: Any, sink: Callable[[float], None]) -> None:
        self.coro, self.sink = coro, sink

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self.coro.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            began = time.thread_time()
            try:
                yielded = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                self.sink(time.thread_time() - began)
                return stop.value
            except BaseException:
                self.sink(time.thread_time() - began)
                raise
            self.sink(time.thread_time() - began)
            value, error = None, None
            try:
                value = yield yielded
            except BaseException as exc:  # a cancellation, handed on to the coroutine
                error = exc


def instrument() -> dict[tuple[int, int], float]:
    """Add up, per call and document, the time spent parsing BXML and running its verbs' steps."""
    from catapult_nb.simulator import v2_calls

    work: dict[tuple[int, int], float] = collections.defaultdict(float)
    parse = v2_calls.parse_bxml
    execute = v2_calls.V2Call._execute
    current: dict[int, int] = {}

    def timed_parse(data: Any, roots: Any = ("Response",)) -> Any:
        began = time.thread_time()
        try:
            return parse(data, roots)
        finally:
            # fetch() keeps each document before parsing it: its count numbers the document
            frame = sys._getframe(1).f_locals.get("self")
            key = (id(frame), len(frame.documents)) if frame is not None else (0, 0)
            current[id(frame)] = key[1]
            work[key] += time.thread_time() - began

    async def timed_execute(self: Any, verb: Any) -> Any:
        key = (id(self), current.get(id(self), 0))

        def add(seconds: float) -> None:
            work[key] += seconds

        return await Timed(execute(self, verb), add)

    v2_calls.parse_bxml = timed_parse  # type: ignore[assignment]
    v2_calls.V2Call._execute = timed_execute  # type: ignore[method-assign]
    return work


def quiet_parse(rounds: int) -> tuple[float, float]:
    """Median microseconds of parse_bxml and of the bare stdlib parse, over both documents."""
    from catapult_nb.simulator.bxml import parse_bxml

    ours, bare = [], []
    for document in (ANSWER.encode(), THANKS.encode()) * (rounds // 2):
        began = time.perf_counter()
        parse_bxml(document)
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        ET.fromstring(document)
        bare.append(time.perf_counter() - began)
    return statistics.median(ours) * 1e6, statistics.median(bare) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()

    from catapult_nb.simulator import Simulator

    work = instrument()
    timeout = 120.0 + args.calls * 0.1
    with Simulator(speed=args.speed, prompt_timing="estimate") as sim:
        alone, _, _ = asyncio.run(run_calls(sim, 1, timeout))
        work.clear()
        wall, app, unfinished = asyncio.run(run_calls(sim, args.calls, timeout))
        failed = [d for d in sim.phone.deliveries() if d["error"]]
    per_document = sorted(work.values())
    expected = {kind: args.calls for kind in WEBHOOKS}
    got = {kind: app.counts[kind] for kind in WEBHOOKS}
    lost = sum(max(0, expected[k] - got[k]) for k in WEBHOOKS)
    wrong = sum(1 for digits in app.digits.values() if digits != "1234")
    timeline = CALL_API_SECONDS / args.speed
    ours, bare = quiet_parse(20_000)
    median = statistics.median(per_document) * 1000 if per_document else float("nan")
    p99 = per_document[int(0.99 * (len(per_document) - 1))] * 1000 if per_document else float("nan")
    print(
        f"{args.calls:,} concurrent v2 calls at speed {args.speed:g}, two BXML documents each: "
        f"{wall:.1f} s wall; webhooks {got} of {args.calls:,} each, {lost} lost, {len(failed)} failed "
        f"attempts, {unfinished} calls unfinished, {wrong} gathers with other digits than 1234 "
        f"(target: 0 lost)"
    )
    print(
        f"  floors: one call's own timeline {timeline:.2f} s ({wall / timeline:.1f}x); "
        f"one call alone through the same flow {alone:.2f} s"
    )
    print(
        f"  BXML parse + execution per webhook answer, in the loaded run: median {median:.3f} ms, "
        f"p99 {p99:.3f} ms over {len(per_document):,} documents (target: median <= 1 ms)"
    )
    print(
        f"  quiet: parse_bxml median {ours:.1f} us per document; floor: the bare stdlib "
        f"ElementTree.fromstring {bare:.1f} us ({ours / bare:.1f}x)"
    )
    return 1 if lost or wrong or unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
