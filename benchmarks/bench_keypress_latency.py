"""Latency from a key press on the virtual phone to the gather's row in ``to_dataframe()``, at speed 1.

A simulated call is answered; then, again and again, a one-digit gather (``maxDigits: 1``) is created
and the virtual phone presses one key. The clock runs from just before the press request is sent
until ``store.to_dataframe(gather_id=...)`` returns a frame holding that gather's event, waiting with
``receiver.wait_for`` (woken by the store's commit, no polling). The path covers the press request,
the simulator's engine and callback delivery, the receiver, the SQLite commit and the frame.

Usage: python benchmarks/bench_keypress_latency.py [--presses 40]
Target: median <= 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from catapult_nb.events import EventStore
from catapult_nb.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args()
    latencies: list[float] = []
    to_commit: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Simulator(speed=1.0) as sim, requests.Session() as http:
        http.trust_env = False
        http.auth = (sim.api_token, sim.api_secret)
        root = f"{sim.api_url}/users/{sim.user_id}"
        store = EventStore(Path(tmp) / "latency.sqlite3")
        with CallbackReceiver(store) as receiver:
            created = http.post(
                f"{root}/calls",
                json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": receiver.url},
                timeout=10,
            )
            call_id = created.headers["Location"].rsplit("/", 1)[1]
            receiver.wait_for(call_id=call_id, event_type="answer", timeout=10)
            phone = sim.phone
            for _ in range(args.presses):
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
        store.close()
    latencies.sort()
    p90 = latencies[int(0.9 * (len(latencies) - 1))]
    print(
        f"key press -> gather row in to_dataframe(), speed 1, {len(latencies)} presses: "
        f"median {statistics.median(latencies):.1f} ms, p90 {p90:.1f} ms, max {latencies[-1]:.1f} ms "
        f"(target: median <= 50 ms)"
    )
    print(
        f"  of which press -> event committed (wait_for returns): "
        f"median {statistics.median(to_commit):.1f} ms"
    )


if __name__ == "__main__":
    main()
