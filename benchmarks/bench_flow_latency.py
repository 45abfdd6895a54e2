"""Latency from a callback reaching the receiver to the flow's next API request, at speed 1.

A flow with one step, ``menu``: a gather of one digit with no prompt whose route leads back to
``menu``. The virtual phone presses a key; the simulator ends the gather and posts its ``gather``
event; the receiver stores it; the session's handler thread hands it to the flow run, which routes
and creates the next gather. The clock runs from the moment the receiver had the callback (its
``received`` time) until the next gather's create request has been answered by the simulator.

The machine may be shared, so the same run also measures a floor: the create-gather request alone
(the client posting a gather to the simulator, nothing else). The flow's own cost is the difference.

Usage: python benchmarks/bench_flow_latency.py [--presses 60]
Target: median <= 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from catapult_nb import Session
from catapult_nb.flows import Ask, Flow
from catapult_nb.options import GatherOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=60)
    args = parser.parse_args()
    flow = Flow({"menu": Ask(max_digits=1, routes={r"\d": "menu"})}, name="loop")
    created: list[float] = []  # wall time each gather request was answered
    with tempfile.TemporaryDirectory() as tmp, Session.simulated(
        speed=1.0, store=Path(tmp) / "e.sqlite3"
    ) as s:
        create_gather = s.client.create_gather

        def timed_create_gather(*a, **kw):
            gather_id = create_gather(*a, **kw)
            created.append(time.time())
            return gather_id

        s.client.create_gather = timed_create_gather  # type: ignore[method-assign]
        run = s.call("+15551234567", flow=flow)
        latencies = []
        for visit in range(1, args.presses + 1):
            run.wait_step("menu", visit=visit)
            s.phone.press(run.call, "5")
            run.wait_step("menu", visit=visit + 1)
            event = s.store.to_dataframe(call_id=run.call.id, event_type="gather").iloc[-1]
            latencies.append((created[-1] - event["received"].timestamp()) * 1000)
        floor = []  # the request alone, on a second call with nothing else going on
        other = s.call("+15557654321")
        for _ in range(args.presses):
            start = time.perf_counter()
            gather_id = create_gather(other.id, GatherOptions(max_digits=1))
            floor.append((time.perf_counter() - start) * 1000)
            s.client.stop_gather(other.id, gather_id)
        run.call.hang_up()
        other.hang_up()
        run.wait(10)
    latencies.sort()
    p90 = latencies[int(0.9 * (len(latencies) - 1))]
    print(
        f"gather callback at the receiver -> next gather created by the flow, speed 1, {len(latencies)} "
        f"steps: median {statistics.median(latencies):.1f} ms, p90 {p90:.1f} ms, max {latencies[-1]:.1f} ms "
        f"(target: median <= 20 ms)"
    )
    print(
        f"  floor, the create-gather request alone (same run): median {statistics.median(floor):.1f} ms; "
        f"the flow's median is {statistics.median(latencies) / statistics.median(floor):.1f}x the floor"
    )


if __name__ == "__main__":
    main()
