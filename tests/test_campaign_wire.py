"""Over the wire: the same caller timelines through the HTTP simulator and a real receiver agree with
the engine, call by call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pandas as pd
import pytest

from catapult_nb import analysis, prompts
from catapult_nb.campaign import Caller, CampaignResult, mix, run_campaign
from catapult_nb.engine import GatherSpec, run_gather
from catapult_nb.options import GatherOptions
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator
from catapult_nb.store.store import EventStore

SPEED = 10
# Key timelines stay this many API seconds (0.3 s of wall time at SPEED) from every deadline, so a busy CI
# machine cannot tip a decision; the engine replays the same timelines.
MARGIN = 3.0
SEED_OPTIONS = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                             sentence="Please enter your 5 digit code")
# Plenty of time-outs, hang-ups and terminating keys, so every reason is exercised.
ROUGH_CALLERS = mix((Caller.typical(), 2), (Caller.hesitant(), 1), (Caller.quitter(hang_up_rate=1.0), 1),
                    (Caller.overtyper(), 1))
ROUGH_OPTIONS = GatherOptions(max_digits=6, inter_digit_timeout=6, tag="rough")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=SPEED) as simulator:
        yield simulator


@pytest.fixture
def receiver(tmp_path) -> Iterator[CallbackReceiver]:
    store = EventStore(tmp_path / "events.sqlite3", synchronous="NORMAL")
    with CallbackReceiver(store) as rec:
        yield rec
    store.close()


def run_both(options: GatherOptions, callers, n: int, seed: int, sim: Simulator,
             receiver: CallbackReceiver) -> tuple[CampaignResult, CampaignResult]:
    wire = run_campaign(options, callers, n, seed, over_the_wire=True, simulator=sim, receiver=receiver,
                        margin=MARGIN)
    engine = run_campaign(options, callers, n, seed, margin=wire.margin)
    return wire, engine


def assert_agree(wire: CampaignResult, engine: CampaignResult) -> None:
    together = wire.agreement(engine)
    assert list(together.index) == list(range(len(engine.table)))
    # How late keys landed on the server, seen on gathers that a key ended: the margin must cover it.
    ends = wire.table.set_index("caller")
    keyed = ends["reason"].isin(["max-digits", "terminating-digit"])
    late = (ends["duration"] - engine.table.set_index("caller")["duration"])[keyed]
    assert together["agrees"].all(), (
        f"callers {list(together.index[~together['agrees']])} disagree; keys landed up to {late.max():.2f} "
        f"API s late against a margin of {wire.margin} (a very busy machine can exceed it)"
    )


@pytest.mark.slow  # 200 callers over the wire
def test_seed_example_agrees_call_by_call(sim: Simulator, receiver: CallbackReceiver) -> None:
    wire, engine = run_both(SEED_OPTIONS, None, 200, 5, sim, receiver)
    assert_agree(wire, engine)
    assert set(wire.table["reason"]) >= {"max-digits", "inter-digit-timeout"}
    # Caller by caller: the wire's rows are in the order the gathers were created, and two created in the
    # same millisecond keep the order their events arrived in.
    intended = wire.table.set_index("caller")["intended"].sort_index()
    assert (intended.to_numpy() == engine.table.set_index("caller")["intended"].sort_index().to_numpy()).all()
    # and the events really went through the receiver into its store
    stored = receiver.store.to_dataframe()
    assert (stored["eventType"] == "gather").sum() == 200
    assert (stored["eventType"] == "hangup").sum() == 200
    assert len(receiver.store.gathers()) == 200


@pytest.mark.slow  # a campaign over the wire
def test_rough_callers_agree_including_hang_ups(sim: Simulator, receiver: CallbackReceiver) -> None:
    wire, engine = run_both(ROUGH_OPTIONS, ROUGH_CALLERS, 120, 6, sim, receiver)
    assert set(wire.table["reason"]) == set(analysis.REASONS)
    assert_agree(wire, engine)
    assert (wire.table["tag"] == "rough").all()


def test_engine_replays_the_server_exactly_from_the_times_it_saw(sim: Simulator,
                                                                receiver: CallbackReceiver) -> None:
    # given: dtmf events on, so the server reports when every key really landed on its clock
    options = GatherOptions(max_digits=6, inter_digit_timeout=4, suppress_dtmf=False,
                            sentence="Enter your code")
    wire = run_campaign(options, ROUGH_CALLERS, 80, 8, over_the_wire=True, simulator=sim, receiver=receiver)
    events, table = wire.events, wire.table
    spec = GatherSpec.from_options(options, prompts.duration(options))  # the simulator renders it
    created = table.set_index("callId")["createdTime"]
    for call_id, row in table.set_index("callId").iterrows():
        mine = events.loc[events["callId"] == call_id]
        offset = (mine["time"] - created[call_id]).dt.total_seconds()
        keys = mine["eventType"] == "dtmf"
        presses = list(zip(offset[keys], mine.loc[keys, "dtmfDigit"], strict=True))
        hung = mine["eventType"] == "hangup"
        # only a hang-up by the caller (before the gather ended) matters to the gather
        hang_up = float(offset[hung].iloc[0]) if row["reason"] == "hung-up" else None
        # when: the engine is played the very times the server saw
        outcome = run_gather(spec, presses, hang_up)
        # then: it reaches the server's verdict
        assert (outcome.reason, outcome.digits) == (row["reason"], row["digits"]), call_id


def test_wire_frames_work_with_analysis(sim: Simulator, receiver: CallbackReceiver) -> None:
    result = run_campaign(SEED_OPTIONS, n=30, seed=1, over_the_wire=True, simulator=sim, receiver=receiver,
                          label="seed")
    events, gathers = result
    assert set(events["eventType"]) >= {"incomingcall", "answer", "speak", "gather", "hangup"}
    table = analysis.gather_table(events, gathers)
    assert len(table) == 30 and table["finished"].all()
    assert table["duration"].notna().all() and (table["duration"] > 0).all()
    assert list(analysis.outcomes_by_options(table).index) == ["seed"]
    assert "mode='wire'" in repr(result)


def test_private_simulator_and_receiver() -> None:
    result = run_campaign(GatherOptions(max_digits=4, inter_digit_timeout=3), Caller.typical(), n=10, seed=2,
                          over_the_wire=True, speed=40)
    assert result.mode == "wire" and result.margin == pytest.approx(1.5)  # capped at half the timeout
    assert len(result.table) == 10
    # the payloads were loaded before the private store closed
    assert all(isinstance(p, dict) for p in result.events["payload"])


def test_wire_refuses_an_unsafe_margin(sim: Simulator, receiver: CallbackReceiver) -> None:
    with pytest.raises(ValueError, match=r"margin must be at most 0\.5"):
        run_campaign(GatherOptions(inter_digit_timeout=1), n=5, over_the_wire=True, simulator=sim,
                     receiver=receiver, margin=0.8)


def test_a_refused_request_is_reported_with_the_simulators_message(sim: Simulator,
                                                                    receiver: CallbackReceiver) -> None:
    class WrongSecret:  # the running simulator, seen with a secret it does not accept
        base_url, api_url, user_id, api_token = sim.base_url, sim.api_url, sim.user_id, sim.api_token
        speed = SPEED
        api_secret = "not-the-secret"

    with pytest.raises(RuntimeError, match=r"HTTP 401") as caught:
        run_campaign(GatherOptions(), n=2, over_the_wire=True, simulator=WrongSecret(), receiver=receiver)
    assert receiver.url not in str(caught.value)


# -- outcomes written by hand --------------------------------------------------------------------------
# Callers with no randomness in their timing (every spread 0, every share 0 or 1), so each kind's outcome
# under SEED_OPTIONS (prompt "Please enter your 5 digit code", timed as 6 words at 150 wpm = 2.4 API s:
# prompt_timing="estimate", not the rendered audio's length) can be worked out on paper. Only the digits
# are drawn; each caller's ``intended`` code is its plan, not an outcome.
_STEADY = dict(first_key_sigma=0.0, key_gap_sigma=0.0, barge_in=0.0, terminator_rate=0.0)
SCRIPTED = mix(
    Caller(name="fills", code_length=5, first_key_median=1.0, key_gap_median=0.5, **_STEADY),
    Caller(name="confirms", code_length=3, first_key_median=1.0, key_gap_median=0.5,
           **{**_STEADY, "terminator_rate": 1.0}),
    Caller(name="pauses", code_length=3, first_key_median=1.0, key_gap_median=12.0, **_STEADY),
    Caller(name="silent", code_length=1, first_key_median=12.0, **_STEADY),
    Caller(name="hangs up", code_length=1, first_key_median=5.0, hang_up_rate=1.0, **_STEADY),
)
#: callerType → (reason, digits as a function of the intended code, duration in API s or None)
BY_HAND = {
    # 5 keys from 2.4 + 1 s, 0.5 s apart: the fifth (at 5.4) fills maxDigits
    "fills": ("max-digits", lambda code: code, 5.4),
    # 3 keys then *, 0.5 s apart from 3.4: * ends it at 4.9 and is not a digit
    "confirms": ("terminating-digit", lambda code: code, 4.9),
    # the first key at 3.4, the next 12 s later: 7 s of silence end it at 10.4 with one digit
    "pauses": ("inter-digit-timeout", lambda code: code[:1], 10.4),
    # no key within 7 s of the prompt's end: 9.4, no digits
    "silent": ("inter-digit-timeout", lambda code: "", 9.4),
    # hangs up before the one key (planned 5 s after the prompt)
    "hangs up": ("hung-up", lambda code: "", None),
}


def assert_as_scripted(result: CampaignResult, late: float = 0.0) -> None:
    """Every caller ended as worked out by hand for its kind (reason, digits; duration up to ``late``)."""
    table = result.table
    assert set(table["callerType"].astype(str)) == set(BY_HAND), "every kind of caller should be drawn"
    for _, row in table.iterrows():
        reason, digits, duration = BY_HAND[str(row["callerType"])]
        got = (row["reason"], "" if row["digits"] is pd.NA else row["digits"])
        assert got == (reason, digits(row["intended"])), (row["caller"], row["callerType"], got)
        if duration is not None:
            assert duration - 1e-6 <= row["duration"] <= duration + late + 1e-6, (row["caller"], row)


@pytest.fixture(scope="module")
def estimating_sim() -> Iterator[Simulator]:
    with Simulator(speed=SPEED, prompt_timing="estimate") as simulator:
        yield simulator


def test_scripted_callers_end_as_worked_out_by_hand_on_the_wire_and_in_the_engine(
        estimating_sim: Simulator, receiver: CallbackReceiver) -> None:
    """Both sides against expectations that come from neither: an engine bug cannot pass both.

    Break this catches every time: a wire driver that drops each caller's last key (``fills`` then times
    out with 4 digits, ``confirms`` never presses *); ``test_the_scripted_check_catches_a_lost_last_key``
    repeats it on the engine.
    """
    wire = run_campaign(SEED_OPTIONS, SCRIPTED, 25, 3, over_the_wire=True, simulator=estimating_sim,
                        receiver=receiver, margin=MARGIN)
    engine = run_campaign(SEED_OPTIONS, SCRIPTED, 25, 3, margin=wire.margin, prompt_timing="estimate")
    assert_as_scripted(engine)
    assert_as_scripted(wire, late=MARGIN)  # keys reach the server late by request trips, never early
    assert_agree(wire, engine)


def test_the_scripted_check_catches_a_lost_last_key() -> None:
    # the same callers, each without its last key: fills types 4 digits, confirms leaves out the *
    changes = {"fills": {"code_length": 4}, "confirms": {"terminator_rate": 0.0}}
    dropped = mix(*((c.but(**changes.get(c.name, {})), 1) for c, _ in SCRIPTED.parts))
    with pytest.raises(AssertionError, match=r"fills|confirms"):
        assert_as_scripted(run_campaign(SEED_OPTIONS, dropped, 25, 3, margin=MARGIN,
                                        prompt_timing="estimate"))


def test_agreement_reports_the_callers_that_disagree() -> None:
    """``agreement()`` can say no: the check every wire test rests on is not an "always agrees".

    Break this catches: an ``agreement()`` whose ``agrees`` is always True.
    """
    five = run_campaign(SEED_OPTIONS, SCRIPTED, 25, 3, margin=MARGIN)
    four = run_campaign(dataclasses.replace(SEED_OPTIONS, max_digits=4), SCRIPTED, 25, 3, margin=MARGIN)
    together = five.agreement(four)
    # only the callers who type five digits end differently when four fill the gather
    fills = set(five.table.loc[five.table["callerType"] == "fills", "caller"])
    assert fills and set(together.index[~together["agrees"]]) == fills
    assert (together.loc[sorted(fills), "digits_other"].str.len() == 4).all()
    # a caller missing on one side does not agree either
    events = five.events.loc[five.events["caller"] != 0]
    gathers = five.gathers.loc[five.gathers["gatherId"].isin(events["gatherId"])]
    short = CampaignResult(events, gathers, five.options, five.label, five.seed)
    assert not five.agreement(short).loc[0, "agrees"]
    assert five.agreement(five)["agrees"].all()
