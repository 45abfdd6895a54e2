"""The pure gather/call engine: one test per rule, plus a property test against an independent oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catapult_nb.engine import (
    FILE_PROMPT_SECONDS,
    CallMachine,
    CallStateError,
    DuplicateGatherError,
    GatherClock,
    GatherMachine,
    GatherSpec,
    Reason,
    prompt_duration,
    run_gather,
)
from catapult_nb.options import GatherOptions, Prompt

SEED = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}


def kinds(outcome):
    return [e.kind for e in outcome.effects]


# -- prompt timing --------------------------------------------------------------------------------


def test_prompt_duration_is_150_words_per_minute_with_a_floor():
    assert prompt_duration(None) == 0.0
    assert prompt_duration("   ") == 0.0
    assert prompt_duration("Hi") == 0.5  # 0.4 s of speech is raised to the minimum
    assert prompt_duration("Please enter your 5 digit code") == pytest.approx(6 * 60 / 150)
    assert prompt_duration(" ".join(["word"] * 150)) == pytest.approx(60.0)
    assert prompt_duration(None, "http://example.invalid/a.wav") == FILE_PROMPT_SECONDS


def test_spec_from_options_fills_the_api_defaults():
    spec = GatherSpec.from_options(GatherOptions())
    assert spec == GatherSpec(30, 5.0, "#", 0.0, False, True, "")


def test_spec_from_the_seed_example():
    spec = GatherSpec.from_options(GatherOptions.from_wire(SEED))
    assert (spec.max_digits, spec.inter_digit_timeout, spec.terminating_digits) == (5, 7.0, "*")
    assert spec.prompt_seconds == pytest.approx(2.4)
    assert spec.prompt_kind == "speak"


def test_spec_for_a_looping_file_prompt():
    options = GatherOptions(prompt=Prompt(file_url="http://example.invalid/a.wav", loop_enabled=True))
    spec = GatherSpec.from_options(options)
    assert (spec.prompt_kind, spec.loop_prompt, spec.prompt_seconds) == ("playback", True, 3.0)


# -- each reason ----------------------------------------------------------------------------------


def test_seed_example_times_out_after_two_digits():
    spec = GatherSpec.from_options(GatherOptions.from_wire(SEED))
    outcome = run_gather(spec, [(1.0, "2"), (1.5, "5")])
    assert (outcome.reason, outcome.digits) == ("inter-digit-timeout", "25")
    assert outcome.completed_at == pytest.approx(8.5)
    assert outcome.first_key_at == 1.0
    assert outcome.prompt_stopped_at == 1.0  # the first key cut the prompt off
    assert kinds(outcome) == [
        "prompt-started", "prompt-stopped", "dtmf-suppressed", "digit", "dtmf-suppressed", "digit",
        "completed",
    ]


def test_max_digits():
    outcome = run_gather(GatherSpec(max_digits=5), [(0.1 * i, k) for i, k in enumerate("123456")])
    assert (outcome.reason, outcome.digits) == ("max-digits", "12345")
    assert outcome.completed_at == pytest.approx(0.4)


def test_terminating_digit_is_not_part_of_the_digits():
    outcome = run_gather(GatherSpec(terminating_digits="*"), [(0, "1"), (1, "2"), (2, "*"), (3, "4")])
    assert (outcome.reason, outcome.digits, outcome.completed_at) == ("terminating-digit", "12", 2)


def test_terminating_digit_first_gives_empty_digits():
    outcome = run_gather(GatherSpec(), [(1, "#")])
    assert (outcome.reason, outcome.digits) == ("terminating-digit", "")


def test_timeout_without_any_key_gives_empty_digits():
    outcome = run_gather(GatherSpec(inter_digit_timeout=5), [])
    assert (outcome.reason, outcome.digits, outcome.completed_at) == ("inter-digit-timeout", "", 5)


def test_hang_up_during_the_gather():
    outcome = run_gather(GatherSpec(), [(1, "4"), (9, "5")], hangup_at=3)
    assert (outcome.reason, outcome.digits, outcome.completed_at) == ("hung-up", "4", 3)


def test_hang_up_after_the_timeout_changes_nothing():
    outcome = run_gather(GatherSpec(inter_digit_timeout=2), [(1, "4")], hangup_at=10)
    assert (outcome.reason, outcome.completed_at) == ("inter-digit-timeout", 3)


# -- the clock and the prompt ---------------------------------------------------------------------


def test_inter_digit_clock_starts_when_the_prompt_ends():
    spec = GatherSpec(inter_digit_timeout=2, prompt_seconds=4, prompt_kind="speak")
    outcome = run_gather(spec, [(5.5, "1")])  # 5.5 s after start, but only 1.5 s after the prompt
    assert outcome.digits == "1"
    assert outcome.prompt_stopped_at == 4
    assert outcome.completed_at == 7.5
    assert run_gather(spec, []).completed_at == 6


@pytest.mark.parametrize("prompt_seconds", [0.0, 4.0])
def test_the_timeout_moments_are_where_the_machine_times_out(prompt_seconds):
    spec = GatherSpec(max_digits=9, inter_digit_timeout=2, prompt_seconds=prompt_seconds,
                      prompt_kind="speak" if prompt_seconds else "")
    # with no key, the gather ends at the first moment
    assert run_gather(spec, []).completed_at == spec.no_key_timeout_at == spec.timeout_moments()[0]
    # with keys, at the moment after the last key
    presses = [(prompt_seconds + 1.5, "1"), (prompt_seconds + 3.0, "2")]
    moments = spec.timeout_moments([t for t, _ in presses])
    assert moments == [prompt_seconds + 2, prompt_seconds + 3.5, prompt_seconds + 5.0]
    assert run_gather(spec, presses).completed_at == moments[-1]


def test_looping_prompt_plays_until_the_first_key_and_arms_the_clock_after_one_play():
    spec = GatherSpec(inter_digit_timeout=2, prompt_seconds=4, loop_prompt=True, prompt_kind="speak")
    silent = run_gather(spec, [])
    assert silent.completed_at == 6  # one play, then the timeout
    assert silent.prompt_stopped_at == 6  # still looping when the gather ended
    keyed = run_gather(spec, [(5, "1")])
    assert keyed.prompt_stopped_at == 5


def test_key_exactly_at_the_deadline_is_accepted():
    outcome = run_gather(GatherSpec(inter_digit_timeout=2), [(1, "1"), (3, "2")])
    assert outcome.digits == "12"
    assert outcome.completed_at == 5


def test_key_just_after_the_deadline_is_too_late():
    outcome = run_gather(GatherSpec(inter_digit_timeout=2), [(1, "1"), (3.001, "2")])
    assert (outcome.reason, outcome.digits) == ("inter-digit-timeout", "1")


def test_suppress_dtmf_false_reports_each_key():
    outcome = run_gather(GatherSpec(suppress_dtmf=False), [(0, "1"), (1, "#")])
    assert [e.key for e in outcome.effects if e.kind == "dtmf"] == ["1", "#"]


def test_keys_are_case_insensitive_and_checked():
    outcome = run_gather(GatherSpec(terminating_digits="D"), [(0, "a"), (1, "d")])
    assert (outcome.reason, outcome.digits) == ("terminating-digit", "A")
    with pytest.raises(ValueError, match="a key must be one of"):
        run_gather(GatherSpec(), [(0, "x")])
    with pytest.raises(ValueError, match="time order"):
        run_gather(GatherSpec(), [(2, "1"), (1, "2")])


def test_machine_stop_gives_no_reason_and_keeps_the_digits():
    machine = GatherMachine(GatherSpec(prompt_seconds=3, prompt_kind="speak"), 10)
    assert [e.kind for e in machine.initial_effects()] == ["prompt-started"]
    assert machine.deadline() == 13
    machine.press("7", 11)
    assert machine.deadline() == 16
    effects = machine.stop(12)
    assert [(e.kind, e.digits) for e in effects] == [("stopped", "7")]
    assert machine.done and machine.reason == ""
    assert machine.deadline() is None
    assert machine.stop(13) == [] and machine.press("1", 13) == []


def test_machine_fires_prompt_end_then_timeout():
    machine = GatherMachine(GatherSpec(inter_digit_timeout=1, prompt_seconds=2, prompt_kind="speak"), 0)
    assert [e.kind for e in machine.on_deadline(2)] == ["prompt-stopped"]
    assert machine.deadline() == 3
    assert machine.on_deadline(2.5) == []
    (done,) = machine.on_deadline(3.2)
    assert (done.kind, done.time, done.reason) == ("completed", 3, "inter-digit-timeout")


# -- calls ----------------------------------------------------------------------------------------


def test_call_transitions_and_duplicate_gather():
    call = CallMachine("c-1", "out")
    with pytest.raises(CallStateError, match="Invalid call state started"):
        call.start_gather(GatherSpec(), 0)
    with pytest.raises(CallStateError):
        call.reject()  # only inbound calls can be rejected
    call.answer()
    gather = call.start_gather(GatherSpec(), 0)
    with pytest.raises(DuplicateGatherError, match="already being gathered for call c-1"):
        call.start_gather(GatherSpec(), 1)
    gather.press("#", 1)
    assert call.start_gather(GatherSpec(), 2) is not gather  # a finished gather does not block
    call.end()
    with pytest.raises(CallStateError):
        call.end()
    inbound = CallMachine("c-2", "in")
    inbound.reject()
    assert inbound.ended and inbound.state == "rejected"


# -- property test --------------------------------------------------------------------------------


def oracle(spec: GatherSpec, presses, hangup_at):
    """An independent reading of the rules: the reason and digits a timeline must give."""
    digits, last = "", None  # last = time of the last accepted key
    for at, key in presses:
        if hangup_at is not None and hangup_at < at:
            break
        waited_from = spec.prompt_seconds if last is None else last
        if at > waited_from + spec.inter_digit_timeout:
            return "inter-digit-timeout", digits
        if key in spec.terminating_digits:
            return "terminating-digit", digits
        digits, last = digits + key, at
        if len(digits) == spec.max_digits:
            return "max-digits", digits
    waited_from = spec.prompt_seconds if last is None else last
    if hangup_at is not None and hangup_at <= waited_from + spec.inter_digit_timeout:
        return "hung-up", digits
    return "inter-digit-timeout", digits


eighths = st.integers(min_value=0, max_value=400).map(lambda n: n / 8)  # exact binary fractions

specs = st.builds(
    GatherSpec,
    max_digits=st.integers(1, 30),
    inter_digit_timeout=st.integers(8, 240).map(lambda n: n / 8),
    terminating_digits=st.text("0123456789*#ABCD", min_size=1, max_size=3),
    prompt_seconds=st.sampled_from([0.0, 0.5, 2.375, 6.0]),
    loop_prompt=st.booleans(),
    suppress_dtmf=st.booleans(),
)


@st.composite
def timelines(draw):
    times = sorted(draw(st.lists(eighths, max_size=40)))
    keys = draw(st.lists(st.sampled_from("0123456789*#ABCD"), min_size=len(times), max_size=len(times)))
    hangup_at = draw(st.none() | eighths)
    return list(zip(times, keys, strict=True)), hangup_at


@settings(max_examples=400, deadline=None)
@given(spec=specs, timeline=timelines())
def test_run_gather_agrees_with_the_rules(spec, timeline):
    presses, hangup_at = timeline
    spec = GatherSpec(
        spec.max_digits, spec.inter_digit_timeout, spec.terminating_digits, spec.prompt_seconds,
        spec.loop_prompt and spec.prompt_seconds > 0, spec.suppress_dtmf,
        "speak" if spec.prompt_seconds else "",
    )
    outcome = run_gather(spec, presses, hangup_at)

    assert (outcome.reason, outcome.digits) == oracle(spec, presses, hangup_at)
    assert len(outcome.digits) <= spec.max_digits
    assert not set(outcome.digits) & set(spec.terminating_digits)
    effects = outcome.effects
    assert [e.time for e in effects] == sorted(e.time for e in effects)
    assert effects[-1].kind == "completed" and effects[-1].time == outcome.completed_at
    assert "".join(e.key for e in effects if e.kind == "digit") == outcome.digits
    key_effects = [e for e in effects if e.kind in ("dtmf", "dtmf-suppressed")]
    assert all(e.kind == ("dtmf-suppressed" if spec.suppress_dtmf else "dtmf") for e in key_effects)
    if spec.prompt_seconds:
        assert kinds(outcome).count("prompt-started") == kinds(outcome).count("prompt-stopped") == 1
    else:
        assert outcome.prompt_stopped_at is None


def test_reason_members_are_their_wire_values():
    assert [str(r) for r in Reason] == ["max-digits", "terminating-digit", "inter-digit-timeout", "hung-up"]
    assert Reason.HUNG_UP == "hung-up" and f"{Reason.MAX_DIGITS}" == "max-digits"
    assert {r for r in Reason if r.completed} == {Reason.MAX_DIGITS, Reason.TERMINATING_DIGIT}


def test_gather_spec_defaults_are_the_options_defaults():
    assert GatherSpec() == GatherSpec.from_options(GatherOptions())


def test_the_clock_view_reads_the_timers_without_firing_them():
    # a 2 s looping prompt, then a 3 s inter-digit timeout
    machine = GatherMachine(GatherSpec(prompt_seconds=2.0, loop_prompt=True, inter_digit_timeout=3.0))
    assert machine.clock_at(0.5) == GatherClock(1.5, 3.0, False)
    assert machine.clock_at(2.5) == GatherClock(0.0, 2.5, True)  # the prompt loops on
    assert machine.clock_at(9.0) == GatherClock(0.0, 0.0, True)  # never negative
    assert not machine.done  # reading fired nothing
    # a key stops the prompt and restarts the inter-digit clock
    machine.press("1", 3.0)
    assert machine.clock_at(4.0) == GatherClock(0.0, 2.0, False)
