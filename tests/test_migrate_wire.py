"""migrate.compare(..., over_the_wire=True): the same callers through a v1 gather and its v2 <Gather> over
real HTTP on the simulator, agreeing with the engine caller by caller."""

from __future__ import annotations

import pytest

from catapult_nb import migrate
from catapult_nb.flows.examples import account_code

# no terminating key and a 7 s wait: the naive port waits 5 s for the first key and takes '#' as a digit
OPTIONS = {"maxDigits": "5", "interDigitTimeout": "7",
           "prompt": {"sentence": "Please enter your 5 digit code"}}
N = 48


def _agrees(comparison: migrate.MigrationComparison) -> None:
    wire = comparison.wire
    assert wire is not None and len(wire) == N
    clear = wire[~wire["close"]]
    assert len(clear) >= 0.8 * N  # most callers are nowhere near a deadline
    # caller by caller, each dialect on the wire ends as the engine says (digits and reason)
    assert clear["v1_agrees"].all(), clear[~clear["v1_agrees"]]
    assert clear["v2_agrees"].all(), clear[~clear["v2_agrees"]]
    assert "over the wire: v1 agreed with the engine" in repr(comparison)


def test_the_naive_port_over_the_wire_changes_the_callers_the_engine_says():
    comparison = migrate.compare(OPTIONS, n=N, seed=1, over_the_wire=True)
    _agrees(comparison)
    wire, changed = comparison.wire, comparison.changed
    assert len(changed) >= 1
    assert changed["why"].str.contains("firstDigitTimeout").any()
    # a changed caller is one whose two wire outcomes differ, and the engine predicted the same change
    # (bar a hang-up within the wire's margin of a key or a deadline: there the wire may decide)
    reason1, reason2 = (wire[c].str.split(" ").str[0] for c in ("v1_engine", "v2_engine"))
    both_hung = (reason1 == "hung-up") & (reason2 == "hung-up")  # v2 sends no digits then
    engine_differs = (reason1 != reason2) | ((wire["v1_engine"] != wire["v2_engine"]) & ~both_hung)
    close = set(wire.loc[wire["close"], "caller"])
    assert set(changed["caller"]) - close == set(wire.loc[engine_differs, "caller"]) - close
    first = changed.iloc[0]
    row = wire.loc[wire["caller"] == first["caller"]].iloc[0]
    assert (row["v1_reason"], row["v1_digits"]) == (first["v1_reason"], first["v1_digits"])


def test_the_port_that_keeps_behaviour_changes_nobody_over_the_wire():
    comparison = migrate.compare(OPTIONS, migrate.gather(OPTIONS), n=N, seed=1, over_the_wire=True)
    _agrees(comparison)
    assert comparison.changed.empty
    assert comparison.summary().empty


def test_over_the_wire_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="compares one gather"):
        migrate.compare(account_code(), over_the_wire=True)
    with pytest.raises(ValueError, match="n"):
        migrate.compare(OPTIONS, n=migrate.MAX_WIRE + 1, over_the_wire=True)
    assert "engine only" in migrate.compare(OPTIONS, n=100).agreement()
