"""Memory of a kernel that opens and closes simulated sessions again and again (re-run cells).

Each cycle opens ``Session.simulated()``, places a call, runs a one-key gather to its result and closes
the session. The resident set size (``/proc/self/status`` VmRSS) is read after a warm-up of
``--warmup`` cycles and again after ``--cycles`` more; the difference is the growth. The warm-up fills
the imports, pools and the bounded caches of the libraries below (yarl's URL caches see a new port and
token each cycle); with only 30 warm-up cycles a run grew 6.4 MiB instead of 4.1 MiB. Every thread the
sessions started must be gone at the end.

Usage: python benchmarks/bench_session_memory.py [--cycles 500] [--warmup 150]
Target: growth <= 5 MiB over 500 cycles.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
from pathlib import Path

from tqdm.auto import tqdm

from catapult_nb import Session


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def cycle(store: Path) -> None:
    with Session.simulated(speed=50, store=store) as session:
        call = session.call("+15551234567")
        gather = call.gather(max_digits=1)
        session.phone.press(call, "7")
        assert gather.wait().digits == "7"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "events.sqlite3"
        for _ in tqdm(range(args.warmup), desc="warm-up"):
            cycle(store)
        gc.collect()
        threads, before, start = threading.active_count(), rss_mib(), time.perf_counter()
        for _ in tqdm(range(args.cycles), desc="open, call, gather, close"):
            cycle(store)
        gc.collect()
        after, elapsed = rss_mib(), time.perf_counter() - start
    growth = after - before
    print(
        f"{args.cycles} sessions opened, used and closed in {elapsed:.1f} s "
        f"({elapsed / args.cycles * 1000:.0f} ms each): RSS {before:.1f} -> {after:.1f} MiB, "
        f"growth {growth:+.2f} MiB ({growth * 1024 / args.cycles:+.1f} KiB per session); "
        f"threads {threads} -> {threading.active_count()}"
    )
    print("target: growth <= 5 MiB over 500 cycles:", "met" if growth <= 5 else "NOT met")


if __name__ == "__main__":
    main()
