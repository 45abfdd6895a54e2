"""The v2 gather rules on the one engine: a rule per test, and the v2 spec's checks."""

from __future__ import annotations

import pytest

from catapult_nb.engine import DIALECTS, GatherMachine, GatherSpec, Reason, run_gather
from catapult_nb.options import OptionError


def kinds(outcome):
    return [e.kind for e in outcome.effects]


def test_v2_defaults_are_bandwidths():
    spec = GatherSpec.v2()
    assert (spec.max_digits, spec.inter_digit_timeout, spec.first_digit_timeout) == (50, 5.0, 5.0)
    assert (spec.terminating_digits, spec.repeat_count, spec.dialect) == ("", 1, "v2")
    assert spec.rules is DIALECTS["v2"] and not spec.rules.reports_reason


def test_v1_specs_keep_their_rules():
    spec = GatherSpec()
    assert spec.dialect == "v1" and spec.first_digit_timeout is None and spec.repeat_count == 1
    assert spec.first_key_timeout == spec.inter_digit_timeout


def test_hash_is_an_ordinary_key_without_a_terminator():
    outcome = run_gather(GatherSpec.v2(), [(1.0, "1"), (2.0, "#"), (3.0, "2")])
    assert outcome.digits == "1#2"
    assert outcome.terminating_digit == ""
    assert outcome.reason == Reason.INTER_DIGIT_TIMEOUT and outcome.completed_at == 8.0


def test_the_terminating_key_is_reported_apart_from_the_digits():
    outcome = run_gather(GatherSpec.v2(terminating_digits="#*"), [(1.0, "4"), (2.0, "*")])
    assert (outcome.digits, outcome.terminating_digit, outcome.reason) == ("4", "*", Reason.TERMINATING_DIGIT)
    assert outcome.has_result


def test_first_digit_timeout_counts_from_the_end_of_the_audio():
    spec = GatherSpec.v2(first_digit_timeout=2, inter_digit_timeout=9, prompt_seconds=3.0)
    assert spec.no_key_timeout_at == 5.0
    assert run_gather(spec, []).completed_at == 5.0
    # a first key exactly at the first-digit deadline is taken (keys before timers)
    taken = run_gather(spec, [(5.0, "7")])
    assert taken.digits == "7" and taken.completed_at == 14.0  # then the inter-digit timeout runs
    late = run_gather(spec, [(5.5, "7")])
    assert late.digits == "" and late.completed_at == 5.0


def test_first_digit_timeout_zero_ends_right_after_the_audio():
    outcome = run_gather(GatherSpec.v2(first_digit_timeout=0, prompt_seconds=2.0), [(2.5, "1")])
    assert outcome.digits == "" and outcome.completed_at == 2.0


def test_the_audio_replays_after_a_silent_first_digit_timeout():
    spec = GatherSpec.v2(first_digit_timeout=1, repeat_count=3, prompt_seconds=2.0)
    outcome = run_gather(spec, [])
    starts = [e.time for e in outcome.effects if e.kind == "prompt-started"]
    stops = [e.time for e in outcome.effects if e.kind == "prompt-stopped"]
    assert starts == [0.0, 3.0, 6.0] and stops == [2.0, 5.0, 8.0]
    assert outcome.completed_at == spec.no_key_timeout_at == 9.0 and outcome.plays == 3


def test_a_key_during_a_replay_stops_it_and_no_further_play_comes():
    spec = GatherSpec.v2(first_digit_timeout=1, repeat_count=3, prompt_seconds=2.0, inter_digit_timeout=2)
    outcome = run_gather(spec, [(3.5, "5")])
    assert outcome.plays == 2 and outcome.prompt_stopped_at == 3.5
    assert outcome.digits == "5" and outcome.completed_at == 5.5


def test_replays_without_audio_repeat_the_wait():
    spec = GatherSpec.v2(first_digit_timeout=2, repeat_count=4)
    assert run_gather(spec, []).completed_at == spec.no_key_timeout_at == 8.0


def test_max_digits_50_by_default():
    presses = [(float(i), "1") for i in range(1, 61)]
    outcome = run_gather(GatherSpec.v2(), presses)
    assert len(outcome.digits) == 50 and outcome.reason == Reason.MAX_DIGITS


def test_a_hang_up_ends_a_v2_gather_without_a_result():
    outcome = run_gather(GatherSpec.v2(prompt_seconds=2.0), [(1.0, "3")], hangup_at=2.5)
    assert kinds(outcome)[-1] == "disconnected" and "completed" not in kinds(outcome)
    assert outcome.reason == Reason.HUNG_UP and outcome.digits == "3"  # known inside the engine
    assert not outcome.has_result
    v1 = run_gather(GatherSpec(prompt_seconds=2.0), [(1.0, "3")], hangup_at=2.5)
    assert kinds(v1)[-1] == "completed" and v1.has_result


def test_the_machine_replays_through_deadlines_as_the_simulator_drives_it():
    machine = GatherMachine(GatherSpec.v2(first_digit_timeout=1, repeat_count=2, prompt_seconds=2.0), 10.0)
    assert machine.deadline() == 12.0
    assert [e.kind for e in machine.on_deadline(12.0)] == ["prompt-stopped"]
    assert machine.deadline() == 13.0
    assert [e.kind for e in machine.on_deadline(13.0)] == ["prompt-started"]
    assert machine.clock_at(14.0).prompt_left == 1.0
    assert [e.kind for e in machine.on_deadline(16.0)] == ["prompt-stopped", "completed"]
    assert machine.completed_at == 16.0 and machine.has_result


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_digits": 51}, "maxDigits must be between 1 and 50, got 51"),
        ({"max_digits": 0}, "maxDigits must be between 1 and 50"),
        ({"inter_digit_timeout": 0.5}, "interDigitTimeout must be between 1 and 60 seconds, got 0.5"),
        ({"first_digit_timeout": 61}, "firstDigitTimeout must be between 0 and 60 seconds, got 61"),
        ({"terminating_digits": "#x"}, "terminatingDigits may only contain 0-9 * # A-D"),
        ({"repeat_count": 0}, "repeatCount must be a whole number ≥ 1"),
        ({"repeat_count": 11, "nested_verbs": 2},
         "repeatCount × nested verbs must be at most 20, got 11 × 2"),
    ],
)
def test_v2_values_out_of_range_name_the_attribute_and_rule(kwargs, message):
    with pytest.raises(OptionError, match=message.replace("*", r"\*")) as caught:
        GatherSpec.v2(**kwargs)
    assert caught.value.prop in message


def test_from_bxml_reads_wire_names_as_text():
    spec = GatherSpec.from_bxml(
        {"maxDigits": "4", "terminatingDigits": "#", "firstDigitTimeout": "0", "repeatCount": "2",
         "gatherUrl": "/next"},
        prompt_seconds=1.5, nested_verbs=2,
    )
    assert (spec.max_digits, spec.terminating_digits, spec.first_digit_timeout) == (4, "#", 0.0)
    assert (spec.repeat_count, spec.inter_digit_timeout, spec.prompt_seconds) == (2, 5.0, 1.5)
    with pytest.raises(OptionError, match="maxDigits must be a whole number"):
        GatherSpec.from_bxml({"maxDigits": "four"})
    with pytest.raises(OptionError, match="repeatCount × nested verbs"):
        GatherSpec.from_bxml({"repeatCount": "7"}, nested_verbs=3)
