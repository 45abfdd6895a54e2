"""Rendering a 10-word sentence with espeak-ng: the first time in a fresh process, then from the cache.

"First time" is measured in a new interpreter and includes loading libespeak-ng and its voice data (the
package import is done before the clock starts). "Cached" is the median of many repeated ``render`` calls
for the same sentence and voice. The real-time factor (seconds of work per second of audio) of uncached
renders of other sentences is printed too, as a floor-free way to compare machines.

Usage: python benchmarks/bench_prompt_render.py [--repeat 5]
Target: first render <= 300 ms, cached <= 1 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, statistics, time
from catapult_nb import prompts

sentence = "Please enter your five digit account code, then press star."
t0 = time.perf_counter()
spoken = prompts.render(sentence)
first = time.perf_counter() - t0
cached = []
for _ in range(2000):
    t0 = time.perf_counter()
    prompts.render(sentence)
    cached.append(time.perf_counter() - t0)
factors = []
for i in range(20):
    text = f"Press {i} to hear option number {i} again, or stay on the line please."
    t0 = time.perf_counter()
    other = prompts.render(text, voice="paul")
    factors.append((time.perf_counter() - t0) / other.duration)
print(json.dumps({"words": len(sentence.split()), "audio_s": spoken.duration, "first_s": first,
                  "cached_median_s": statistics.median(cached), "cached_max_s": max(cached),
                  "uncached_realtime_factor": statistics.median(factors)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes to run")
    args = parser.parse_args()
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(args.repeat)]
    first = statistics.median(r["first_s"] for r in runs)
    cached = statistics.median(r["cached_median_s"] for r in runs)
    factor = statistics.median(r["uncached_realtime_factor"] for r in runs)
    words, audio = runs[0]["words"], runs[0]["audio_s"]
    print(f"{words}-word sentence, {audio:.2f} s of audio; {args.repeat} fresh processes")
    print(f"first render (engine start included): median {first * 1000:.1f} ms "
          f"(max {max(r['first_s'] for r in runs) * 1000:.1f} ms)   target <= 300 ms")
    print(f"cached render: median {cached * 1e6:.1f} us "
          f"(worst call {max(r['cached_max_s'] for r in runs) * 1e6:.0f} us)   target <= 1 ms")
    print(f"uncached renders: {factor * 1000:.1f} ms of work per second of audio")
    if first > 0.3 or cached > 0.001:
        sys.exit("over target")


if __name__ == "__main__":
    main()
