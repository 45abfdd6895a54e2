"""gather_table over v1 events and v2 webhooks: the same callers through a v1 gather and through its
kept v2 port (both played by the engine) give the same table where the information exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catapult_nb import analysis, migrate
from catapult_nb.engine import GatherSpec, run_gather
from catapult_nb.options import GatherOptions
from catapult_nb.store.store import EventStore

T0 = pd.Timestamp("2026-03-02T09:00:00Z")
OPTION_SETS = [
    {"maxDigits": "4", "interDigitTimeout": "3", "prompt": {"sentence": "Enter your four digit code"}},
    {"maxDigits": "6", "terminatingDigits": "*", "interDigitTimeout": "5"},
    {"prompt": {"sentence": "Enter your account number, then the pound key"}},
]


def iso(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def callers(n: int, seed: int) -> list[tuple[list[tuple[float, str]], float | None]]:
    """Timelines of keys (and a hang-up for some): quick and slow, with '#', '*' and too many keys."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        at, presses = float(rng.uniform(0, 12)), []
        for _ in range(int(rng.integers(0, 9))):
            key = rng.choice(list("0123456789#*"), p=[0.08] * 10 + [0.12, 0.08])
            presses.append((round(at, 3), str(key)))
            at += float(rng.uniform(0.2, 7))
        hang = round(float(rng.uniform(0.5, 20)), 3) if rng.random() < 0.2 else None
        out.append((presses, hang))
    return out


def core(call: str, at: pd.Timestamp, start: pd.Timestamp) -> dict:
    return {"eventTime": iso(at), "accountId": "9900000", "applicationId": "a-1", "from": "+15551230000",
            "to": "+15551239999", "direction": "inbound", "callId": call,
            "callUrl": f"http://127.0.0.1/api/v2/accounts/9900000/calls/{call}", "startTime": iso(start)}


def both_logs(store: EventStore, options: dict, people: list, *, served: bool = True) -> None:
    """Each caller's v1 gather (created, then its gather event) and the same caller's v2 call (answer,
    its BXML served, then a gather webhook or, for a hang-up, only the disconnect)."""
    v1_options = GatherOptions.coerce(options)
    port = migrate.gather(v1_options)
    v1_spec, v2_spec = GatherSpec.from_options(v1_options), port.spec()
    for i, (presses, hang) in enumerate(people):
        start = T0 + pd.Timedelta(minutes=i)
        a = run_gather(v1_spec, presses, hang)
        store.record_gather(f"gtr-{i:04d}", f"c-a{i:04d}", options, iso(start))
        ended = iso(start + pd.Timedelta(seconds=a.completed_at))
        store.add({"eventType": "gather", "callId": f"c-a{i:04d}", "gatherId": f"gtr-{i:04d}",
                   "state": "completed", "reason": a.reason.value, "digits": a.digits, "time": ended})
        b = run_gather(v2_spec, presses, hang)
        call = f"c-b{i:04d}"
        store.add({"eventType": "answer", **core(call, start, start)})
        if served:
            store.record_bxml(call, port.bxml, iso(start))
        end = start + pd.Timedelta(seconds=b.completed_at)
        if b.has_result:
            store.add({"eventType": "gather", **core(call, end, start), "digits": b.digits,
                       "terminatingDigit": b.terminating_digit})
            end += pd.Timedelta(seconds=1)  # the app hangs up after the result
        store.add({"eventType": "disconnect", **core(call, end, start), "endTime": iso(end),
                   "cause": "hangup"})


@pytest.mark.parametrize("options", OPTION_SETS, ids=["code", "star", "defaults"])
def test_the_v1_log_and_the_kept_ports_v2_log_give_the_same_table(options: dict) -> None:
    people = callers(150, seed=len(str(options)))
    with EventStore(":memory:") as store:
        both_logs(store, options, people)
        table = analysis.gather_table(store.to_dataframe(), store.gathers())

    v1 = table.loc[table["dialect"] == "v1"].reset_index()
    v2 = table.loc[table["dialect"] == "v2"].reset_index()
    assert len(v1) == len(v2) == len(people)
    v2 = v2.set_index(v2["callId"].str[3:].astype(int)).sort_index()
    v1 = v1.set_index(v1["callId"].str[3:].astype(int)).sort_index()

    # the reason: v1's own, and v2's as v1_reason reads it (marked as derived)
    assert v1["reason"].tolist() == v2["reason"].tolist()
    assert not v1["reasonDerived"].any() and v2["reasonDerived"].all()
    reasons = set(v1["reason"])
    assert {"inter-digit-timeout", "hung-up"} <= reasons and reasons & {"max-digits", "terminating-digit"}
    # digits, where v2 sends them (a hang-up sends no gather webhook: v2 loses them)
    hung = v1["reason"] == "hung-up"
    assert v1.loc[~hung, "digits"].tolist() == v2.loc[~hung, "digits"].tolist()
    assert v2.loc[hung, "digits"].isna().all()
    # times and the options both dialects name alike
    for column in ("finished", "completed", "digitCount"):
        assert v1.loc[~hung, column].tolist() == v2.loc[~hung, column].tolist()
    assert v1["duration"].tolist() == pytest.approx(v2["duration"].tolist())
    spec = GatherOptions.coerce(options)
    assert (v2["maxDigits"] == spec.effective_max_digits).all()
    assert (v2["interDigitTimeout"] == spec.effective_inter_digit_timeout).all()
    assert (v2["terminatingDigits"] == spec.effective_terminating_digits).all()
    assert v2["optionSet"].str.startswith("v2 maxDigits=").all()
    # and the summaries built on the table agree
    pd.testing.assert_series_equal(analysis.reason_counts(v1), analysis.reason_counts(v2))
    assert analysis.completion_rate(v1) == analysis.completion_rate(v2)


def test_without_the_bxml_v2_gathers_say_their_options_are_unknown() -> None:
    options = OPTION_SETS[0]
    people = [([(1.0, "1"), (1.5, "2"), (2.0, "3"), (2.5, "4")], None),  # max-digits on v1
              ([(1.0, "1"), (1.5, "#")], None),
              ([(1.0, "1")], 2.0)]                                         # hangs up
    with EventStore(":memory:") as store:
        both_logs(store, options, people, served=False)
        events, gathers = store.to_dataframe(), store.gathers()
    table = analysis.gather_table(events, gathers)
    v2 = table.loc[table["dialect"] == "v2"]

    assert (v2["optionSet"] == analysis.UNKNOWN_OPTIONS).all()
    assert v2.index.tolist() == [f"c-b000{i}@{iso(T0 + pd.Timedelta(minutes=i, seconds=s))}"
                                 for i, s in ((0, 2.5), (1, 1.5))]
    # maxDigits unknown: v1_reason takes v2's default of 50, so 4 keys read as a time-out; a hang-up
    # cannot be tied to a gather whose document is not in the data
    assert v2["reason"].tolist() == ["inter-digit-timeout", "terminating-digit"]
    assert analysis.gather_table(events)["dialect"].value_counts().to_dict() == {"v1": 3, "v2": 2}


def test_a_v2_gather_is_over_when_its_call_disconnects_and_not_after_a_result() -> None:
    options = OPTION_SETS[0]
    people = [([(1.0, "1")], 2.0), ([(1.0, "1"), (1.5, "2"), (2.0, "3"), (2.5, "4")], None)]
    with EventStore(":memory:") as store:
        both_logs(store, options, people)
        store.record_bxml("c-b0001", "<Response><Gather gatherUrl='/g' maxDigits='2'/></Response>",
                          iso(T0 + pd.Timedelta(minutes=1, seconds=2.6)))  # served, then the call ends
        store.record_bxml("c-b0001", "<Response><Gather maxDigits='2'/></Response>",
                          iso(T0 + pd.Timedelta(minutes=1, seconds=2.7)))  # no gatherUrl: never reports
        table = analysis.gather_table(store.to_dataframe(), store.gathers())
    v2 = table.loc[table["dialect"] == "v2"]

    assert v2["reason"].tolist() == ["hung-up", "max-digits", pd.NA, pd.NA]
    assert v2["completedTime"].iloc[0] == T0 + pd.Timedelta(seconds=2)
    assert v2["finished"].tolist() == [True, True, False, False]
