"""Memory of a long-running ``catapult-nb simulator`` fed by ``/_sim/incoming``, which needs no credentials.

The simulator runs in its own process (as the command line starts it). Callers ring in through
``POST /_sim/incoming`` and hang up through the virtual phone, ``--concurrency`` at a time; their
callbacks go to a small aiohttp endpoint in this process that answers 200. The simulator's resident set
size (``/proc/PID/status`` VmRSS) is read after ``--warmup`` calls and again after ``--calls`` more.

Usage: python benchmarks/bench_simulator_memory.py [--calls 20000] [--warmup 2000]
Target: growth <= 20 MiB over 20,000 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from tqdm.auto import tqdm


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS (Linux only)")


async def sink() -> tuple[web.AppRunner, str]:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/cb", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/cb"


async def ring(http: aiohttp.ClientSession, base: str, callback: str, n: int) -> None:
    body = {"from": f"+1555{n % 10_000_000:07d}", "to": "+15551239999", "callbackUrl": callback}
    async with http.post(f"{base}/_sim/incoming", json=body) as response:
        assert response.status == 201, await response.text()
        call_id = (await response.json())["callId"]
    async with http.post(f"{base}/_sim/calls/{call_id}/hangup") as response:
        assert response.status == 202, await response.text()


async def drive(base: str, callback: str, count: int, concurrency: int, desc: str) -> None:
    numbers = iter(range(count))
    bar = tqdm(total=count, desc=desc)

    async def worker(http: aiohttp.ClientSession) -> None:
        for n in numbers:
            await ring(http, base, callback, n)
            bar.update()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    bar.close()


async def main(args: argparse.Namespace) -> None:
    runner, callback = await sink()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "catapult_nb", "simulator", "--port", "0", "--speed", "50"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = simulator.stdout.readline() if simulator.stdout else ""
        base = line.strip().rsplit(" ", 1)[-1]
        assert base.startswith("http://"), line
        await drive(base, callback, args.warmup, args.concurrency, "warm-up")
        await asyncio.sleep(0.5)  # the last hang-ups' callbacks go out
        before, start = rss_mib(simulator.pid), time.perf_counter()
        await drive(base, callback, args.calls, args.concurrency, "ring in and hang up")
        await asyncio.sleep(0.5)
        after, elapsed = rss_mib(simulator.pid), time.perf_counter() - start
    finally:
        simulator.terminate()
        simulator.wait(10)
        await runner.cleanup()
    growth = after - before
    print(
        f"{args.calls} inbound calls rung and hung up in {elapsed:.1f} s ({args.calls / elapsed:.0f}/s): "
        f"simulator RSS {before:.1f} -> {after:.1f} MiB, growth {growth:+.2f} MiB "
        f"({growth * 1024 * 1024 / args.calls:+.0f} bytes per call)"
    )
    print("target: growth <= 20 MiB over 20,000 calls:", "met" if growth <= 20 else "NOT met")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
