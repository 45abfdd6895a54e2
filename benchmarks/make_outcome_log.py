"""Write ``notebooks/data/gather_week.jsonl.xz``: a week of gather callbacks as a production log holds them.

An app A/B-tests two gather option sets on an account-code menu for a week (Monday 2026-03-02 to Sunday
2026-03-08, UTC). Its callback server logs one JSON line per delivery (``{"received", "payload"}``) and
one per gather it creates (``{"gather": {gatherId, callId, createdTime, options}}``). The callers come
from the project's caller model (:mod:`catapult_nb.campaign`, played on the gather engine): daytime
callers are the default mix, night callers (22:00-06:00) are slower and hang up more. A call that times
out or types a short code is asked again, up to three gathers. Like real logs, it has:

* retries: about 1.5 % of callbacks were delivered twice (the server answered too slowly the first time);
* a few malformed lines: a line cut by log rotation, an event without ``callId``, a time that is not a
  time, a Latin-1 byte, a proxy's HTML error page, an empty line.

Every draw comes from one seed, so the file is the same on every run::

    .venv/bin/python benchmarks/make_outcome_log.py            # writes notebooks/data/gather_week.jsonl.xz
"""

from __future__ import annotations

import argparse
import json
import lzma
from pathlib import Path

import numpy as np
import pandas as pd

from catapult_nb.campaign import Caller, mix, run_campaign

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks" / "data" / "gather_week.jsonl.xz"
WEEK = pd.Timestamp("2026-03-02T00:00:00Z")
OPTION_SETS = {
    "code-a": {"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7", "tag": "code-a",
               "prompt": {"sentence": "Please enter your 5 digit code"}},
    "code-b": {"maxDigits": "5", "terminatingDigits": "#", "interDigitTimeout": "4", "tag": "code-b",
               "prompt": {"sentence": "Please enter your 5 digit account code, then press pound"}},
}
#: Many callers look for their account code first (hesitant); at night more of them, and more quit.
DAY_CALLERS = mix((Caller.typical(), 0.50), (Caller.hesitant(), 0.35), (Caller.overtyper(), 0.10),
                  (Caller.quitter(), 0.05))
NIGHT_CALLERS = mix((Caller.typical(), 0.30), (Caller.hesitant(), 0.50), (Caller.overtyper(), 0.05),
                    (Caller.quitter(), 0.15))
#: Calls per hour of day (relative): a business line, busiest late morning and early afternoon.
HOURLY = np.array([1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 20, 19, 16, 17, 18, 17, 14, 11, 8, 6, 5, 4, 3, 2], float)
MAX_GATHERS = 3
_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))


def ids(rng: np.random.Generator, prefix: str, n: int) -> list[str]:
    """Ids like the API's: the prefix and lowercase base-32 characters (16 here: a smaller file)."""
    chars = _ALPHABET[rng.integers(0, 32, size=(n, 16))]
    return [prefix + "".join(row) for row in chars]


def iso(ns: int) -> str:
    """Milliseconds, as the API writes event times."""
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def outcomes(label: str, callers, n: int, seed: int) -> pd.DataFrame:
    """n gathers played by the caller model: reason, digits and duration (API seconds)."""
    result = run_campaign(OPTION_SETS[label], callers, n=n, seed=seed, label=label)
    events = result.events.set_index("gatherId")
    created = result.gathers.set_index("gatherId")["createdTime"]
    duration = (events["time"] - created.reindex(events.index)).dt.total_seconds()
    return pd.DataFrame({"reason": events["reason"].astype(str), "digits": events["digits"].astype(str),
                         "duration": duration.to_numpy()}).reset_index(drop=True)


def build(calls: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 7, calls)
    hour = rng.choice(24, size=calls, p=HOURLY / HOURLY.sum())
    start = WEEK.value + ((day * 24 + hour) * 3600 + rng.random(calls) * 3600) * 1e9
    arm = rng.choice(list(OPTION_SETS), size=calls)
    night = (hour >= 22) | (hour < 6)
    pools = {}
    for k, (label, is_night) in enumerate([(a, n) for a in OPTION_SETS for n in (False, True)]):
        size = int(((arm == label) & (night == is_night)).sum()) * MAX_GATHERS
        pools[label, is_night] = iter(outcomes(label, NIGHT_CALLERS if is_night else DAY_CALLERS,
                                               max(size, 1), seed + 1 + k).itertuples(index=False))
    call_ids = ids(rng, "c-", calls)
    gather_ids = iter(ids(rng, "gtr-", calls * MAX_GATHERS))
    lines: list[tuple[int, bytes]] = []  # (received ns, line): the log is in arrival order
    for i in np.argsort(start, kind="stable"):
        label, t = arm[i], int(start[i]) + int(2e9)  # answered, greeted, then the first gather
        wire = OPTION_SETS[label]
        for _ in range(MAX_GATHERS):
            outcome = next(pools[label, bool(night[i])])
            gather_id = next(gather_ids)
            record = {"gatherId": gather_id, "createdTime": iso(t), "options": wire}
            lines.append((t, json.dumps({"gather": record}, separators=(",", ":")).encode()))
            end = t + int(outcome.duration * 1e9)
            payload = {"eventType": "gather", "reason": outcome.reason, "state": "completed",
                       "digits": outcome.digits, "time": iso(end), "callId": call_ids[i],
                       "gatherId": gather_id, "tag": wire["tag"]}
            deliveries = [end + int(rng.uniform(0.02, 0.3) * 1e9)]
            if rng.random() < 0.015:  # not answered in time: the API delivers it again
                deliveries.append(deliveries[0] + int(rng.uniform(10, 40) * 1e9))
            for received in deliveries:  # the server logs the body as it came, and when a retry came
                first = received == deliveries[0]
                entry = payload if first else {"received": iso(received), "payload": payload}
                lines.append((received, json.dumps(entry, separators=(",", ":")).encode()))
            done = outcome.reason in ("max-digits", "terminating-digit") and len(outcome.digits) == 5
            if done or outcome.reason == "hung-up":
                break
            t = end + int(3e9)  # "Sorry, I did not get that."
    lines.sort(key=lambda item: item[0])
    return [line for _, line in lines]


def damage(lines: list[bytes], seed: int) -> list[bytes]:
    """A few lines as real logs have them: cut, incomplete, mis-encoded, foreign."""
    rng = np.random.default_rng(seed + 99)
    broken = [
        lambda line: line[: len(line) // 2],  # log rotation cut the line
        lambda line: line.replace(b'"callId":', b'"callID":'),  # a proxy renamed the field
        lambda line: line.replace(b'"time":"2026-03-0', b'"time":"2026-13-0'),  # month 13
        lambda line: line.replace(b'"tag":"code-', b'"tag":"caf\xe9-'),  # Latin-1, not UTF-8
        lambda line: b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        lambda line: b"",
    ]
    out = list(lines)
    events = [i for i, line in enumerate(lines) if line.startswith(b'{"eventType"')]
    for k, position in enumerate(sorted(rng.choice(events, size=12, replace=False), reverse=True)):
        out.insert(position, broken[k % len(broken)](lines[position]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=38_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = damage(build(args.calls, args.seed), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(args.out, "wb", preset=9 | lzma.PRESET_EXTREME) as out:
        out.write(b"\n".join(lines) + b"\n")
    events = sum(1 for line in lines if not line.startswith(b'{"gather"'))
    print(f"{args.out.relative_to(ROOT)}: {len(lines):,} lines, {events:,} callbacks, "
          f"{args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
