"""gather_table over v1 events and v2 webhooks: the same callers through a v1 gather and through its
kept v2 port (both played by the engine) give the same table where the information exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catapult_nb import ParquetEvents, analysis, migrate
from catapult_nb.analysis import tables as analysis_tables
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
    v1_log(store, options, people)
    v2_log(store, options, people, served=served)


def v1_log(store: EventStore, options: dict, people: list) -> None:
    """Each caller's v1 gather: created, its keys as dtmf events, then its gather event."""
    v1_options = GatherOptions.coerce(options)
    v1_spec = GatherSpec.from_options(v1_options)
    for i, (presses, hang) in enumerate(people):
        start = T0 + pd.Timedelta(minutes=i)
        a = run_gather(v1_spec, presses, hang)
        store.record_gather(f"gtr-{i:04d}", f"c-a{i:04d}", options, iso(start))
        for second, key in presses[:2]:
            if second <= a.completed_at:
                store.add({"eventType": "dtmf", "callId": f"c-a{i:04d}", "dtmfDigit": key,
                           "time": iso(start + pd.Timedelta(seconds=second))})
        ended = iso(start + pd.Timedelta(seconds=a.completed_at))
        store.add({"eventType": "gather", "callId": f"c-a{i:04d}", "gatherId": f"gtr-{i:04d}",
                   "state": "completed", "reason": a.reason.value, "digits": a.digits, "time": ended})


def v2_log(store: EventStore, options: dict, people: list, *, served: bool = True, prefix: str = "c-b"
           ) -> None:
    """Each caller's v2 call through the kept port of the v1 gather: answered, its BXML served (unless
    not ``served``), then a gather webhook or, for a hang-up, only the disconnect."""
    port = migrate.gather(GatherOptions.coerce(options))
    v2_spec = port.spec()
    for i, (presses, hang) in enumerate(people):
        start = T0 + pd.Timedelta(minutes=i)
        b = run_gather(v2_spec, presses, hang)
        call = f"{prefix}{i:04d}"
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


# --------------------------------------------------------------------------------------------------
# A ParquetEvents folder of v2 events: the same table, computed in DuckDB


def v2_store(mixed: bool) -> EventStore:
    """v2 calls (and, when ``mixed``, v1 gathers beside them) with every kind of v2 row: results by
    time-out, terminating key and max digits, hang-ups during a gather, webhooks whose BXML is not in the
    data, a ``<Gather>`` without ``gatherUrl``, one served and never answered, and tags from the BXML or
    the webhook."""
    store = EventStore(":memory:")
    people = callers(60, seed=7)
    people[:3] = [([(1.0, "1"), (1.5, "2"), (2.0, "3"), (2.5, "4")], None),  # max-digits (maxDigits=4)
                  ([(1.0, "1"), (1.5, "#")], None),                         # the terminating key
                  ([(1.0, "1")], 2.0)]                                       # hangs up mid-gather
    if mixed:
        v1_log(store, OPTION_SETS[0], people)
    v2_log(store, OPTION_SETS[0], people)
    v2_log(store, OPTION_SETS[1], people[:20], served=False, prefix="c-u")  # options unknown
    # after a result, a reporting <Gather> served and another document before the disconnect, which has no
    # gatherUrl: neither is ended by the disconnect
    store.record_bxml("c-b0001", "<Response><Gather gatherUrl='/g' maxDigits='2' tag='again'/></Response>",
                      iso(T0 + pd.Timedelta(minutes=1, seconds=1.7)))
    store.record_bxml("c-b0001", "<Response><Gather maxDigits='2'/></Response>",
                      iso(T0 + pd.Timedelta(minutes=1, seconds=1.8)))
    # a tagged <Gather> answered by a webhook with its own tag, one answered without, one ended by a hang-up
    start = T0 + pd.Timedelta(hours=2)
    for n, (webhook_tag, digits) in enumerate([("from-webhook", "12"), (None, "123"), (None, None)]):
        call, served = f"c-t{n}", start + pd.Timedelta(minutes=n)
        store.add({"eventType": "answer", **core(call, served, served)})
        store.record_bxml(call, "<Response><Gather gatherUrl='/g' maxDigits='3' terminatingDigits='*' "
                                "tag='from-bxml'><SpeakSentence>Code?</SpeakSentence></Gather></Response>",
                          iso(served))
        if digits is not None:
            hook = {"eventType": "gather", **core(call, served + pd.Timedelta(seconds=4), served),
                    "digits": digits, **({"tag": webhook_tag} if webhook_tag else {})}
            store.add(hook)
            if n == 1:  # a second webhook: the <Gather> that asked for it is in no recorded document
                store.add(hook | {"eventTime": iso(served + pd.Timedelta(seconds=8)), "digits": "987"})
        else:
            store.add({"eventType": "disconnect", **core(call, served + pd.Timedelta(seconds=9), served),
                       "cause": "hangup"})
    return store


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    """The table in one order whatever its source (gathers served at the same moment tie otherwise)."""
    moment = table["createdTime"].fillna(table["completedTime"])
    return table.assign(_moment=moment).sort_values(["_moment", "dialect"], kind="stable") \
        .drop(columns="_moment").sort_index(kind="stable")


@pytest.fixture(params=[False, True], ids=["v2-only", "v1-and-v2"])
def both(request, tmp_path) -> tuple[EventStore, ParquetEvents]:
    store = v2_store(mixed=request.param)
    store.to_parquet(tmp_path / "events", partition_by="date")
    return store, ParquetEvents(tmp_path / "events")


def test_a_folder_of_v2_events_gives_the_stores_gather_table_column_by_column(both) -> None:
    store, folder = both
    theirs, mine = analysis.gather_table(store), analysis.gather_table(folder)

    assert not folder.v1_only()
    assert list(mine.columns) == list(theirs.columns)
    pd.testing.assert_frame_equal(ordered(mine), ordered(theirs), check_exact=True)
    # every kind of v2 row is in it
    v2 = mine.loc[mine["dialect"] == "v2"]
    assert set(v2["reason"].dropna()) == {"max-digits", "terminating-digit", "inter-digit-timeout", "hung-up"}
    assert v2["reasonDerived"].all() and not mine.loc[mine["dialect"] == "v1", "reasonDerived"].any()
    assert (v2["optionSet"] == analysis.UNKNOWN_OPTIONS).sum() >= 10
    hung_up = v2.loc["c-b0002@2026-03-02T09:02:00.000Z"]  # hung up mid-gather
    assert hung_up["reason"] == "hung-up"
    assert hung_up["completedTime"] == T0 + pd.Timedelta(minutes=2, seconds=2)
    not_ended = ["c-b0001@2026-03-02T09:01:01.700Z", "c-b0001@2026-03-02T09:01:01.800Z"]
    assert not v2.loc[not_ended, "finished"].any()
    tagged = v2.loc[v2["callId"].isin(["c-t0", "c-t1", "c-t2"])].sort_values("completedTime")
    assert tagged["tag"].tolist() == ["from-webhook", "from-bxml", None, "from-bxml"]
    assert tagged["reason"].tolist() == ["inter-digit-timeout", "max-digits", "inter-digit-timeout",
                                         "hung-up"]
    assert tagged.loc["c-t1@2026-03-02T11:01:08.000Z", "optionSet"] == analysis.UNKNOWN_OPTIONS
    if (mine["dialect"] == "v1").any():  # the v1 gathers' dtmf keys were found in their windows
        assert mine["timeToFirstKey"].notna().sum() > 10


def test_the_summaries_and_plots_of_a_v2_folder_are_the_stores(both) -> None:
    store, folder = both
    table = analysis.gather_table(store)

    pd.testing.assert_series_equal(analysis.reason_counts(folder), analysis.reason_counts(table))
    assert analysis.completion_rate(folder) == analysis.completion_rate(table)
    pd.testing.assert_series_equal(analysis.digit_count_distribution(folder, normalize=True),
                                   analysis.digit_count_distribution(table, normalize=True))
    for by in ("optionSet", "tag", ["dialect", "maxDigits"]):
        pd.testing.assert_frame_equal(analysis.outcomes_by_options(folder, by=by),
                                      analysis.outcomes_by_options(table, by=by),
                                      check_dtype=False, check_index_type=False, check_categorical=False)
    for by in (None, "optionSet"):
        heights = [[p.get_height() for p in f.axes[0].patches]
                   for f in (analysis.plot_reasons(folder, by=by), analysis.plot_reasons(table, by=by))]
        assert heights[0] == heights[1] and sum(heights[0]) > 0
        bars = [[p.get_verts().tolist() for p in f.axes[0].patches]
                for f in (analysis.plot_durations(folder, by=by, bins=20),
                          analysis.plot_durations(table, by=by, bins=20))]
        assert bars[0] == bars[1] and len(bars[0]) >= 1


def test_a_v2_folder_never_becomes_an_events_frame(both, monkeypatch) -> None:
    store, folder = both
    expected = ordered(analysis.gather_table(store))

    def no_frame(*args, **kwargs):
        raise AssertionError("the folder's events became a DataFrame")

    monkeypatch.setattr(ParquetEvents, "to_dataframe", no_frame)
    monkeypatch.setattr(ParquetEvents, "gathers", no_frame)
    monkeypatch.setattr(analysis_tables, "_frames_of", no_frame)
    pd.testing.assert_frame_equal(ordered(analysis.gather_table(folder)), expected, check_exact=True)
    monkeypatch.setattr(analysis_tables, "gather_frame", no_frame)  # the summaries bring back aggregates
    assert analysis.reason_counts(folder).sum() == expected["finished"].sum()
    assert analysis.completion_rate(folder) == expected.loc[expected["finished"], "completed"].mean()
    with pytest.raises(AssertionError, match="became a DataFrame"):
        analysis.gather_table(folder)  # the spy does catch a table brought back
