"""Moving a v1 gather or flow to v2: the port that keeps behaviour, what it cannot keep, v1's reason read back
from v2, and the same callers through both dialects."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_flow_campaign_vectorised import callers as flow_callers
from test_flow_campaign_vectorised import flows

from catapult_nb import migrate
from catapult_nb.engine import GatherSpec, Reason, run_gather
from catapult_nb.flows.examples import account_code
from catapult_nb.migrate import CHANGED_COLUMNS
from catapult_nb.options import GatherOptions, OptionError, Prompt
from catapult_nb.snippets import render

SEED = {"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "prompt": {"sentence": "Please enter your 5 digit code"}}
KEYS = "0123456789*#ABCD"


def gather_of(bxml: str) -> ET.Element:
    root = ET.fromstring(bxml)
    assert root.tag == "Response"
    (element,) = root.findall("Gather")
    return element


# -- the port -------------------------------------------------------------------------------------


def test_the_seed_keeps_its_rules_and_names_what_v2_cannot_keep():
    port = migrate.gather(SEED)
    element = gather_of(port.bxml)
    assert element.attrib == {"gatherUrl": migrate.GATHER_URL, "maxDigits": "5", "terminatingDigits": "*",
                              "interDigitTimeout": "7", "firstDigitTimeout": "7"}
    assert element.find("SpeakSentence").text == "Please enter your 5 digit code"
    assert port.kept and not any(d.by_port for d in port.differences)
    assert {d.behaviour for d in port.differences} >= {"reason", "hang-up", "gatherId and state", "voice"}
    hang_up = next(d for d in port.differences if d.behaviour == "hang-up")
    assert "disconnect" in hang_up.instead
    assert "keeps behaviour" in repr(port) and "<table>" in port._repr_html_()


def test_v1_defaults_are_written_out_and_the_naive_port_says_what_it_changes():
    kept = gather_of(migrate.gather({}).bxml).attrib
    assert (kept["terminatingDigits"], kept["maxDigits"], kept["firstDigitTimeout"]) == ("#", "30", "5")
    naive = migrate.naive({})
    assert set(naive.attributes) == {"gatherUrl"}
    changed = {d.behaviour for d in naive.differences if d.by_port}
    assert changed == {"terminating key", "maxDigits"}  # v2's first-key default happens to be v1's 5 s
    seed = {d.behaviour for d in migrate.naive(SEED).differences if d.by_port}
    assert seed == {"first key"}
    ends = next(d for d in naive.differences if d.behaviour == "terminating key")
    assert "'#' is an ordinary digit" in str(ends)


options_st = st.builds(
    GatherOptions,
    max_digits=st.none() | st.integers(1, 30),
    terminating_digits=st.none() | st.text(KEYS, min_size=1, max_size=3),
    inter_digit_timeout=st.none() | st.sampled_from([1, 1.5, 2, 2.5, 5, 7, 12.25, 30]),
    tag=st.none() | st.text("ab <&>\"'", max_size=5),
    suppress_dtmf=st.none() | st.booleans(),
    prompt=st.none() | st.builds(Prompt, sentence=st.sampled_from(["Hi", "Your code & then #"]),
                                 voice=st.none() | st.just("kate"), loop_enabled=st.none() | st.booleans())
    | st.builds(Prompt, file_url=st.just("https://example.com/a.mp3")),
)


@settings(max_examples=200, deadline=None)
@given(options=options_st)
def test_the_snippet_and_the_port_are_one_document(options: GatherOptions) -> None:
    port = migrate.gather(options)
    assert render(options, language="bxml-v2") == port.bxml
    element = gather_of(port.bxml)
    # the document is valid v2 and is the spec the engine plays
    spec = GatherSpec.from_bxml({k: v for k, v in element.attrib.items() if k != "gatherUrl" and k != "tag"})
    assert spec == port.spec(0.0)
    assert element.get("tag") == options.tag


def test_a_given_v2_document_is_read_safely():
    port = migrate.from_bxml('<Response><Gather maxDigits="5" terminatingDigits="*"><SpeakSentence>Hi'
                             "</SpeakSentence></Gather></Response>", SEED)
    assert {d.behaviour for d in port.differences if d.by_port} == {"first key", "between keys"}
    assert port.bxml.startswith("<Response><Gather maxDigits")  # the document as given
    with pytest.raises(ValueError, match="no <Gather>"):
        migrate.from_bxml("<Response><Hangup/></Response>")
    with pytest.raises(ValueError, match="DTDs and entities are not allowed in BXML"):
        migrate.from_bxml('<!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>')
    with pytest.raises(OptionError, match="maxDigits must be between 1 and 50"):
        migrate.from_bxml('<Response><Gather maxDigits="80"/></Response>')


# -- v1's reason from v2 ----------------------------------------------------------------------------


def v2_webhook(outcome) -> dict:
    """What v2 sends for a gather that ended as ``outcome``: a gather webhook, or a disconnect."""
    if not outcome.has_result:
        return {"eventType": "disconnect", "cause": "hangup"}
    return {"eventType": "gather", "digits": outcome.digits, "terminatingDigit": outcome.terminating_digit}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=options_st, seed=st.integers(0, 2**32 - 1), grid=st.sampled_from([None, 0.5, 1.0]))
def test_v1_reason_agrees_with_the_v1_engine_on_the_kept_port(options, seed, grid) -> None:
    # given random v1 options and 50 callers typing, ending, hanging up (exact ties on a grid)
    rng = np.random.default_rng(seed)
    v1 = GatherSpec.from_options(options)
    v2 = migrate.gather(options).spec(v1.prompt_seconds)
    for _ in range(50):
        count = int(rng.integers(0, 35))
        times = np.cumsum(rng.exponential(rng.choice([0.5, 2.0, 6.0]), size=count))
        if grid:
            times = np.round(times / grid) * grid
        keys = rng.choice(list(KEYS), size=count, p=[0.07] * 10 + [0.15, 0.15, 0, 0, 0, 0])
        hang = float(rng.uniform(0, 40)) if rng.random() < 0.3 else None
        presses = list(zip(times.tolist(), keys.tolist(), strict=True))
        # when both dialects play the caller
        want, got = run_gather(v1, presses, hang), run_gather(v2, presses, hang)
        # then v1's reason is read back from v2's webhook, every time
        assert migrate.v1_reason(v2_webhook(got), options) == want.reason, (options, presses, hang)
        if want.reason != Reason.HUNG_UP:
            assert (got.digits, got.completed_at) == (want.digits, want.completed_at)


def test_v1_reason_reads_sdk_models_and_refuses_other_webhooks():
    class Callback:  # the shape of bandwidth.models.GatherCallback
        event_type, digits, terminating_digit = "gather", "12", ""

    assert migrate.v1_reason(Callback(), GatherOptions(max_digits=2)) == Reason.MAX_DIGITS
    assert migrate.v1_reason(Callback(), None) == Reason.INTER_DIGIT_TIMEOUT  # v2's 50
    assert migrate.v1_reason({"digits": "", "terminatingDigit": "#"}) == Reason.TERMINATING_DIGIT
    assert migrate.v1_reason({"eventType": "disconnect", "cause": "timeout"}) == Reason.HUNG_UP
    with pytest.raises(ValueError, match="got eventType 'answer'"):
        migrate.v1_reason({"eventType": "answer"})


# -- the same callers through both ------------------------------------------------------------------


def test_the_naive_port_of_the_seed_loses_late_first_keys_and_says_why():
    result = migrate.compare(SEED, n=20_000, seed=3)
    summary = result.summary()
    assert len(result.changed) > 0 and summary["callers"].sum() == len(result.changed)
    assert summary.index[0].startswith("first key later than v2's wait (firstDigitTimeout 5 s")
    # each row is what the engine itself gives that caller on each dialect
    port = migrate.naive(SEED)
    for row in result.changed.head(20).itertuples():
        assert row.v1_digits != row.v2_digits or row.v1_reason != row.v2_reason
    assert port.kept is False and "a naive port" in repr(result)
    assert result.plot().axes[0].get_title().endswith("callers changed by the port")


def test_the_kept_port_changes_nobody():
    result = migrate.compare(SEED, migrate.gather(SEED), n=20_000, seed=3)
    assert result.changed.empty and list(result.changed.columns) == list(CHANGED_COLUMNS)
    assert "0 of 20,000 callers changed" in repr(result)
    assert "no caller changed" in [t.get_text() for t in result.plot().axes[0].texts]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=options_st, seed=st.integers(0, 2**31))
def test_the_kept_port_changes_nobody_on_random_option_sets(options, seed) -> None:
    assert migrate.compare(options, migrate.gather(options), n=3000, seed=seed).changed.empty


def test_the_default_hash_is_found_in_the_naive_port_of_defaults():
    result = migrate.compare({}, n=5000, seed=1)
    assert any("'#' ends the gather on v1; on v2 it is a digit" in w for w in result.summary().index)
    row = result.changed[result.changed["why"].str.startswith("'#'")].iloc[0]
    assert row.v1_reason == "terminating-digit" and row.v2_digits.startswith(row.v1_digits + "#")


def test_changed_rows_match_the_scalar_engine():
    # the naive port with an inter-digit change too: replay changed callers one by one
    from catapult_nb.campaign.callers import coerce_callers
    from catapult_nb.campaign.plans import build_timelines, draw

    options = GatherOptions(max_digits=4, inter_digit_timeout=3)
    port = migrate.from_bxml('<Gather maxDigits="6" interDigitTimeout="2" firstDigitTimeout="1"/>', options)
    result = migrate.compare(options, port.bxml, n=3000, seed=5)
    lines = build_timelines(draw(coerce_callers(None), 3000, 5), GatherSpec.from_options(options), 0.0)
    v1, v2 = GatherSpec.from_options(options), port.spec(0.0)
    assert len(result.changed) > 100
    for row in result.changed.head(60).itertuples():
        i = row.caller
        presses = [(float(t), chr(k)) for t, k in zip(lines.times[i, : lines.count[i]],
                                                       lines.keys[i, : lines.count[i]], strict=True)]
        hang = None if math.isnan(lines.hang_ups[i]) else float(lines.hang_ups[i])
        a, b = run_gather(v1, presses, hang), run_gather(v2, presses, hang)
        assert (a.digits, a.reason.value) == (row.v1_digits, row.v1_reason)
        assert row.v2_reason == migrate.v1_reason(v2_webhook(b), port).value
        assert row.v2_digits == (b.digits if b.has_result else "")


def test_bad_comparisons_say_what_to_give():
    with pytest.raises(TypeError, match="FlowMigration"):
        migrate.compare(account_code(), migrate.gather(SEED))
    with pytest.raises(TypeError, match="v2 must be a Migration"):
        migrate.compare(SEED, 12)
    with pytest.raises(ValueError, match="n must"):
        migrate.compare(SEED, n=0)


# -- flows ------------------------------------------------------------------------------------------


def test_a_flow_becomes_one_document_per_step():
    flow = account_code()
    port = migrate.flow(flow, app_url="https://app.example/ivr/")
    docs = port.bxml
    assert set(docs) == set(flow.steps) and flow.to_bxml("https://app.example/ivr") == docs
    code = gather_of(docs["code"])
    assert code.get("gatherUrl") == "https://app.example/ivr/code" and code.get("firstDigitTimeout") == "7"
    confirm = gather_of(docs["confirm"])
    assert confirm.get("terminatingDigits") == "#" and confirm.find("SpeakSentence").text.startswith(
        "You entered {code}")
    sorry = ET.fromstring(docs["sorry"])
    assert sorry.find("Redirect").get("redirectUrl") == "https://app.example/ivr/operator"
    assert ET.fromstring(docs["operator"]).find("Transfer/PhoneNumber").text == "+15550100999"
    assert ET.fromstring(docs["thanks"]).find("Hangup") is not None
    assert "0 behaviours changed by the port" in repr(port)
    with pytest.raises(TypeError, match=r"migrate\.gather"):
        migrate.flow(SEED)


def test_the_shipped_flow_keeps_every_caller_and_the_naive_port_does_not():
    flow = account_code()
    assert migrate.compare(flow, migrate.flow(flow), n=5000, seed=2).changed.empty
    naive = migrate.compare(flow, n=5000, seed=2)
    assert len(naive.changed) > 0
    assert (naive.changed["v1_path"] != naive.changed["v2_path"]).any()
    assert naive.changed["why"].str.startswith("at code: first key later than v2's wait").any()
    # a caller's path changes only after one of their gathers went differently, and the why names it
    assert not naive.changed["why"].str.startswith("another rule").any()
    assert set(naive.changed.columns) == {"caller", "callerType", "v1_path", "v2_path", "v1_outcome",
                                          "v2_outcome", "step", "why"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows(), kinds=st.lists(flow_callers, min_size=1, max_size=2), seed=st.integers(0, 2**31))
def test_random_flows_keep_every_caller_through_their_kept_port(flow, kinds, seed) -> None:
    from catapult_nb.campaign import flow_engine, mix
    from catapult_nb.flows import FlowError

    try:
        flow_engine.check_answers(flow)
    except FlowError:
        assume(False)
    people = mix(*[(kind.but(name=f"kind{i}"), 1.0) for i, kind in enumerate(kinds)])
    with mock.patch.object(flow_engine, "MAX_STEPS", 12):  # loops reach the cut (outcome error) quickly
        assert migrate.compare(flow, migrate.flow(flow), n=150, seed=seed, callers=people).changed.empty
        naive = migrate.compare(flow, n=150, seed=seed, callers=people)
    # whoever the naive port changes, it changed at a gather the two dialects played differently
    assert (naive.changed["step"] != "").all()
