"""ParquetEvents: callback logs in a date-partitioned Parquet folder, read by DuckDB, analysed as a store."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb import ParquetEvents, analysis
from catapult_nb.analysis import plots as analysis_plots
from catapult_nb.analysis import tables as analysis_tables
from catapult_nb.store import parquet_folder, parquet_import
from catapult_nb.store.formats import MAX_RECORD, ImportFormatError
from catapult_nb.store.parquet import MANIFEST, ParquetFolderError, write_store
from catapult_nb.store.store import EventStore

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "notebooks" / "data" / "gather_week.jsonl.xz"
OPTIONS = {"maxDigits": "5", "terminatingDigits": "#", "interDigitTimeout": "4", "tag": "menu",
           "prompt": {"sentence": "Your code, please"}}


def lines(records: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, separators=(",", ":")).encode()) + b"\n"
                    for r in records)


def at(second: float) -> str:
    whole = int(second)
    stamp = pd.Timestamp(1_772_409_600 + whole, unit="s").strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{round((second - whole) * 1000):03d}Z"


def call_log(calls: int = 40) -> list:
    """Gathers with their create records, dtmf keys (for the time to the first key), a gather without
    an event, one without a record, hang-ups and retries."""
    out: list = []
    reasons = ["max-digits", "inter-digit-timeout", "hung-up", "terminating-digit"]
    for c in range(calls):
        call, base = f"c-{c:04d}", c * 50_000.0  # ~14 h apart: the calls spread over many days
        gather = f"g-{c:04d}"
        if c % 9 != 3:
            out.append({"gather": {"gatherId": gather, "callId": call, "createdTime": at(base),
                                   "options": OPTIONS | {"tag": f"menu-{c % 2}"}}})
        for k in range(c % 4):
            out.append({"eventType": "dtmf", "dtmfDigit": str(k), "callId": call, "time": at(base + 2 + k)})
        if c % 11 != 5:
            event = {"eventType": "gather", "reason": reasons[c % 4], "state": "completed",
                     "digits": "0123"[: c % 4], "callId": call, "gatherId": gather, "tag": f"menu-{c % 2}",
                     "time": at(base + 7.25)}
            out.append(event)
            if c % 5 == 0:
                out.append(dict(reversed(list(event.items()))))  # the retry, its fields in another order
        out.append({"eventType": "hangup", "cause": "NORMAL_CLEARING", "callId": call, "time": at(base + 9)})
    return out


@pytest.fixture
def folder(tmp_path: Path) -> ParquetEvents:
    return ParquetEvents(tmp_path / "events")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventStore, ParquetEvents, object, object]:
    store = EventStore(":memory:")
    expected = store.import_events(WEEK)
    events = ParquetEvents(tmp_path_factory.mktemp("week") / "events")
    report = events.import_events(WEEK)
    return store, events, expected, report


def same_report(a: object, b: object) -> None:
    """The same counts, and the same rejected lines (in line order: the store lists a value JSON cannot
    hold when its batch is written, the folder where it was read)."""
    assert a.counts() == b.counts()  # type: ignore[attr-defined]
    unit = a.unit  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(a.rejected.sort_values(unit, ignore_index=True),  # type: ignore[attr-defined]
                                  b.rejected.sort_values(unit, ignore_index=True))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Import: the same report, the same events, the same identity


def test_the_week_log_imports_as_into_the_store(week):
    store, events, expected, report = week
    same_report(expected, report)
    assert report.rejected_count == 10 and report.duplicates == 737
    assert len(events) == len(store) == 47_285
    again = events.import_events(WEEK)
    assert again.imported == 0 and again.duplicates == 48_022 and len(events) == 47_285


def test_the_folders_frame_is_the_stores(week):
    store, events, *_ = week
    mine, theirs = events.to_dataframe(), store.to_dataframe()
    assert list(mine.columns) == list(theirs.columns) and (mine.dtypes == theirs.dtypes).all()
    for column in theirs.columns.drop("payload"):
        pd.testing.assert_series_equal(mine[column].reset_index(drop=True),
                                       theirs[column].reset_index(drop=True))
    assert [dict(p) for p in mine["payload"][:50]] == [dict(p) for p in theirs["payload"][:50]]
    call = theirs["callId"].iloc[7]
    pd.testing.assert_frame_equal(events.to_dataframe(call_id=call).drop(columns="payload").reset_index(drop=True),
                                  store.to_dataframe(call_id=call).drop(columns="payload").reset_index(drop=True))
    pd.testing.assert_frame_equal(events.gathers(), store.gathers())


def test_the_gather_table_is_the_stores_column_by_column(week):
    store, events, *_ = week
    theirs, mine = analysis.gather_table(store), analysis.gather_table(events)
    assert list(mine.columns) == list(theirs.columns)
    pd.testing.assert_index_equal(mine.index, theirs.index)
    for column in theirs.columns:
        pd.testing.assert_series_equal(mine[column], theirs[column], check_exact=True)


def test_gathers_with_keys_retries_and_missing_records_give_the_same_table(folder):
    log = lines(call_log())
    store = EventStore(":memory:")
    same_report(store.import_events(log), folder.import_events(log))
    theirs, mine = analysis.gather_table(store), analysis.gather_table(folder)
    pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
    assert mine["timeToFirstKey"].notna().sum() > 10  # the dtmf keys were found in the gathers' windows
    assert (mine["optionSet"] == analysis.UNKNOWN_OPTIONS).sum() == 5
    assert mine["reason"].isna().sum() == 4  # created, never finished
    assert folder.sql("SELECT count(DISTINCT date) FROM events").fetchall()[0][0] > 20


def test_summaries_and_plots_of_the_folder_are_the_stores(week):
    store, events, *_ = week
    table = analysis.gather_table(store)
    pd.testing.assert_series_equal(analysis.reason_counts(events), analysis.reason_counts(table))
    pd.testing.assert_series_equal(analysis.reason_counts(events, normalize=True),
                                   analysis.reason_counts(table, normalize=True))
    assert analysis.completion_rate(events) == analysis.completion_rate(table)
    pd.testing.assert_series_equal(analysis.digit_count_distribution(events),
                                   analysis.digit_count_distribution(table))
    for by in ("tag", "optionSet", ["tag", "maxDigits"]):
        pd.testing.assert_frame_equal(analysis.outcomes_by_options(events, by=by),
                                      analysis.outcomes_by_options(table, by=by),
                                      check_dtype=False, check_index_type=False)
    for by in (None, "tag"):
        bars = [[p.get_verts().tolist() for p in f.axes[0].patches]
                for f in (analysis.plot_durations(events, by=by, bins=25),
                          analysis.plot_durations(table, by=by, bins=25))]
        assert bars[0] == bars[1] and len(bars[0]) >= 1
        heights = [[p.get_height() for p in f.axes[0].patches]
                   for f in (analysis.plot_reasons(events, by=by), analysis.plot_reasons(table, by=by))]
        assert heights[0] == heights[1] and sum(heights[0]) > 0
    call = table["callId"].iloc[3]
    events_of_call, gathers_of_call = events.call(call)
    figure = analysis.plot_call_timeline(events_of_call, call, gathers_of_call)
    assert figure.axes[0].get_title() == f"Call {call}"
    with pytest.raises(ValueError, match=r"no events for call 'nope'; calls in .* include: c-"):
        events.call("nope")


def test_the_folders_summaries_and_plots_bring_back_aggregates_not_the_table(week, monkeypatch):
    store, events, *_ = week
    table = analysis.gather_table(store)

    def whole_table(*args, **kwargs):
        raise AssertionError("the folder's whole gather table became a DataFrame")

    monkeypatch.setattr(analysis_tables, "gather_frame", whole_table)
    fetched: list[int] = []
    def counting(original):
        def counted(*args, **kwargs):
            rows = original(*args, **kwargs)
            fetched.append(len(rows))
            return rows
        return counted

    for module, name in [(analysis_tables, "finished_counts"), (analysis_tables, "outcome_rows"),
                         (analysis_plots, "finished_counts"), (analysis_plots, "histogram")]:
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    pd.testing.assert_series_equal(analysis.reason_counts(events), analysis.reason_counts(table))
    assert analysis.completion_rate(events) == analysis.completion_rate(table)
    pd.testing.assert_series_equal(analysis.digit_count_distribution(events, normalize=True),
                                   analysis.digit_count_distribution(table, normalize=True))
    pd.testing.assert_frame_equal(analysis.outcomes_by_options(events, by="tag"),
                                  analysis.outcomes_by_options(table, by="tag"), check_dtype=False)
    for by in (None, "optionSet"):
        heights = [[p.get_height() for p in f.axes[0].patches]
                   for f in (analysis.plot_reasons(events, by=by), analysis.plot_reasons(table, by=by))]
        assert heights[0] == heights[1]
        bars = [[p.get_verts().tolist() for p in f.axes[0].patches]
                for f in (analysis.plot_durations(events, by=by, bins=40),
                          analysis.plot_durations(table, by=by, bins=40))]
        assert bars[0] == bars[1]
    assert len(fetched) == 8 and max(fetched) <= 200 < len(table), fetched  # bins and groups, not gathers
    with pytest.raises(AssertionError, match="whole gather table"):
        analysis.gather_table(events)  # the spy does catch a table brought back


BAD = [
    b"not json at all",
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z",}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","digits":NaN}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","digits":1e999}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","tag":"caf\xe9"}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","tag":"\\ud800"}',
    b'{"eventType":"gather","time":"2026-03-02T00:00:00Z"}',
    b'{"eventType":"gather","callId":null,"time":"2026-03-02T00:00:00Z"}',
    b'{"eventType":"gather","callId":7,"time":"2026-03-02T00:00:00Z"}',
    b'{"eventType":"gather","callId":"  ","time":"2026-03-02T00:00:00Z"}',
    b'{"eventType":"gather","callId":"c-1"}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-13-02T00:00:00Z"}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-02-30T00:00:00Z"}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T24:00:00Z"}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T23:59:60Z"}',
    b'{"eventType":"gather","callId":"c-1","time":"yesterday"}',
    b'{"eventType":"gather","callId":"c-1","time":20260302}',
    b'[{"eventType":"gather"}]',
    b'"a string"',
    b'{"payload":[1,2],"received":"2026-03-02T00:00:00Z"}',
    b'{"payload":{"eventType":"dtmf","callId":"c-1","time":"2026-03-02T00:00:01Z"},"received":"soon"}',
    b'{"payload":{"eventType":"dtmf","callId":"c-1","time":"2026-03-02T00:00:01Z"},"received":true}',
    b'{"gather":{"callId":"c-1"}}',
    b'{"gather":{"gatherId":"g-1","options":null}}',
    b'{"gather":{"gatherId":"g-1","options":{},"createdTime":"never"}}',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z"',
    b'\xef\xbb\xbf{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z"}',  # a BOM past line 1
    b'\xef\xbb\xbfnull',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","tag":"' + b"x" * MAX_RECORD + b'"}',
]
GOOD = [
    b'\xef\xbb\xbf{"eventType":"answer","callId":"c-1","time":"2026-03-02T00:00:00Z"}',
    b'{"eventType":"dtmf","callId":"c-1","time":"2026-03-02T00:00:01.5Z","dtmfDigit":7}\r',
    b'   ',
    b'',
    b'{"eventType":"dtmf","callId":"c-1","time":"2026-03-02T00:00:02.123456Z","dtmfDigit":"\\u0037"}',
    b'{"eventType":"dtmf","callId":"c-1","time":"2026-03-02T01:00:02+01:00","dtmfDigit":"8"}',
    b'{"eventType":"gather","callId":"c-2","time":"2026-03-02 00:00:03Z","digits":12345678901234567890123}',
    b'{"eventType":"gather","callId":"c-2","time":"2026-03-02T00:00:04Z","digits":"1","digits":"2"}',
    b'{"eventType":"speak","callId":"c-2","time":"2026-03-02T00:00:05Z","status":"done","extra":{"b":1,"a":[1.5]}}',
    b'{"eventType":"speak","callId":"c-2","time":"2026-03-02T00:00:06Z","tag":null}',
    b'{"eventType":"speak","callId":"c-2","time":"2026-03-02T00:00:06Z"}',
    b' \t{"eventType":"speak","callId":"c-2","time":"2026-03-02T00:00:06.5Z"}',
    b'{"eventType":"speak","callId":"c-2","time":"2026-03-02T00:00:07Z","emoji":"\\ud83d\\ude00"}',
    b'{"payload":{"eventType":"dtmf","callId":"c-3","time":"2026-03-02T00:00:08Z"},'
    b'"received":"2026-03-02T00:00:09.123456789Z","source":"pbx","session":"s1"}',
    b'{"payload":{"eventType":"dtmf","callId":"c-3","time":"2026-03-02T00:00:10Z"},"received":1772409611.5}',
    b'{"payload":{"eventType":"dtmf","callId":"c-3","time":"2026-03-02T00:00:10Z"},"received":null}',
    b'{"gather":{"gatherId":"g-9","callId":"c-3","session":"s1","options":{"maxDigits":"3"}}}',
    b'{"gather":{"gatherId":"g-9","callId":"c-3","createdTime":"2026-03-02T00:00:11.000Z","options":{}}}',
    b'{"gather":{"gatherId":"g-8"}}',
    b'{"eventType":"gather","callId":"c-1","time":"2026-03-02T00:00:00Z","tag":"'
    + b"x" * (MAX_RECORD - 80) + b'"}',
]


@pytest.mark.parametrize("block", [1 << 20, 64])
def test_each_line_is_read_or_rejected_as_the_store_does(folder, monkeypatch, block):
    monkeypatch.setattr(parquet_import, "BLOCK", block)  # 64: lines longer than a block, cut across blocks
    log = b"\n".join([GOOD[0], *BAD, *GOOD[1:]]) + b"\n"
    store = EventStore(":memory:")
    expected, report = store.import_events(log), folder.import_events(log)
    same_report(expected, report)
    assert report.rejected_count == len(BAD) and report.skipped == 2 and report.imported == len(GOOD) - 6
    mine, theirs = folder.to_dataframe(), store.to_dataframe()
    theirs["received"] = theirs["received"].dt.floor("us")  # Parquet keeps microseconds, as engines read them
    for column in theirs.columns.drop("payload"):
        pd.testing.assert_series_equal(mine[column].reset_index(drop=True),
                                       theirs[column].reset_index(drop=True))
    assert [dict(p) for p in mine["payload"]] == [dict(p) for p in theirs["payload"]]
    pd.testing.assert_frame_equal(folder.gathers().drop(columns="options"),
                                  store.gathers().drop(columns="options"))
    assert mine.index.is_monotonic_increasing and mine.index.is_unique


LINE = (b'{"eventType":"gather","reason":"max-digits","digits":"12","callId":"c-1","tag":"t",'
        b'"time":"2026-03-02T00:00:00.250Z"}')


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(LINE)), st.integers(0, 3), st.binary(max_size=3)),
                min_size=1, max_size=40))
def test_damaged_lines_are_read_or_rejected_as_the_store_does(tmp_path_factory, edits):
    """Each line the event's line with a few bytes cut, doubled or replaced: the folder reads or rejects
    every one as the store does, and keeps the same events."""
    damaged = []
    for at_byte, cut, put in edits:
        damaged.append(LINE[:at_byte] + put + LINE[at_byte + cut :])
    log = b"\n".join([*damaged, LINE]) + b"\n"
    folder, store = ParquetEvents(tmp_path_factory.mktemp("damaged")), EventStore(":memory:")
    for format in (None, "jsonl"):  # the first line tells the format: a damaged one can tell none
        try:
            expected = store.import_events(log, format=format)
        except ImportFormatError as exc:  # the same error from both, and nothing read
            with pytest.raises(ImportFormatError, match=re.escape(str(exc))):
                folder.import_events(log, format=format)
            continue
        same_report(expected, folder.import_events(log, format=format))
        break
    mine, theirs = folder.to_dataframe(), store.to_dataframe()
    assert [dict(p) for p in mine["payload"]] == [dict(p) for p in theirs["payload"]]


def test_a_retry_counts_once_whatever_its_fields_order_and_spacing(folder):
    event = {"eventType": "gather", "reason": "max-digits", "digits": "1", "callId": "c-1", "time": at(1)}
    retry = json.dumps(dict(reversed(list(event.items()))), indent=1).replace("\n", " ").encode()
    other = event | {"time": at(1.001)}  # the same keys a millisecond later: another event
    report = folder.import_events(lines([event, retry, other, {"payload": event, "source": "log"}]))
    assert (report.imported, report.duplicates) == (2, 2)
    assert folder.import_events(lines([other, event])).imported == 0
    with_unknown = event | {"zzz": [1, {"b": 2, "a": 1}]}  # a field of no column: canonical through a map
    reordered = {"zzz": [1, {"b": 2, "a": 1}], **event}
    assert folder.import_events(lines([with_unknown, reordered])).counts()["imported"] == 1
    spelt = json.dumps(event).replace('"callId"', '"call\\u0049d"').encode()  # a name spelt with an escape
    assert folder.import_events(lines([spelt])).duplicates == 1
    with_null = event | {"tag": None}  # a null: another payload than the event without the field
    report = folder.import_events(lines([with_null, dict(reversed(list(with_null.items())))]))
    assert (report.imported, report.duplicates) == (1, 1)


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress, lambda b: b])
def test_compressed_csv_har_and_ngrok_logs(folder, pack, tmp_path):
    store = EventStore(":memory:")
    store.import_events(lines(call_log(12)))
    store.to_csv(tmp_path / "e.csv")
    for name, data in (("events.csv", (tmp_path / "e.csv").read_bytes()), ("events.har", store.to_har()),
                       ("events.jsonl", store.to_jsonl())):
        fresh = EventStore(":memory:")
        expected = fresh.import_events(pack(data), source_name=name)
        report = folder.import_events(io.BytesIO(pack(data)), source_name=name)
        assert report.counts() == {**expected.counts(), "imported": report.imported,
                                   "duplicates": report.duplicates}
    assert len(folder) == len(store)
    pd.testing.assert_frame_equal(analysis.gather_table(folder), analysis.gather_table(store),
                                  check_exact=True)
    ngrok = {"requests": [{"start": at(1), "request": {"method": "POST", "uri": "/callbacks/x", "headers": {
        "Content-Type": ["application/json"]}, "raw": __import__("base64").b64encode(
        b"POST /callbacks/x HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"eventType": "answer", "callId": "c-ngrok", "time": at(2)}).encode()).decode()}}]}
    report = folder.import_events(pack(json.dumps(ngrok).encode()))
    assert (report.format, report.imported) == ("ngrok", 1)


def test_bad_files_are_clear_errors_and_empty_ones_say_so(folder):
    with pytest.raises(ImportFormatError, match="binary"):
        folder.import_events(bytes(range(256)) * 10)
    with pytest.raises(ImportFormatError, match="UTF-16"):
        folder.import_events("\ufeff{}".encode("utf-16"))
    assert folder.import_events(b"").notes == ["the file is empty: nothing to import"]
    for blank in (b"\n\n\n", b"\r\n  \r\n", b"\xef\xbb\xbf\n \t\n"):  # as the store says of them
        assert folder.import_events(blank).notes == ["the file holds only blank lines: nothing to import"]
    assert len(folder) == 0 and not list(folder.folder.glob(".write-*"))


# --------------------------------------------------------------------------------------------------
# The folder: all or nothing, refused when foreign or newer, read by other engines


def _state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", [(parquet_folder.FolderWrite, "flush"),  # writing, in the caller's thread
                                   (parquet_import, "_classify"),  # DuckDB reading a block, in its thread
                                   (parquet_import, "_split")])  # cutting a block into lines, in its thread
def test_a_crash_mid_import_leaves_the_folder_as_it_was(folder, monkeypatch, where):
    folder.import_events(lines(call_log(10)))
    before = _state(folder.folder)
    monkeypatch.setattr(parquet_import, "BLOCK", 256)
    calls = {"n": 0}
    owner, name = where
    real = getattr(owner, name)

    def failing(*args, **options):  # the third block fails, after two were written to the side
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args, **options)

    monkeypatch.setattr(owner, name, failing)
    with pytest.raises(OSError, match="disk full"):
        folder.import_events(lines(call_log(40)))
    assert calls["n"] >= 3
    assert _state(folder.folder) == before and len(folder) == len(ParquetEvents(folder.folder))
    assert not [t for t in threading.enumerate() if t.name.startswith("catapult_nb-lines")]  # none left


def test_a_commit_cut_short_is_finished_by_the_next_opener(folder, monkeypatch):
    moved = {"n": 0}
    real = parquet_folder.os.replace

    def dying(src, dst):  # the process dies after the commit, one file into its moves
        if str(src).endswith(".parquet") and ".write-" in str(src):
            moved["n"] += 1
            if moved["n"] == 2:
                raise SystemExit("killed")
        return real(src, dst)

    monkeypatch.setattr(parquet_folder.os, "replace", dying)
    with pytest.raises(SystemExit):
        folder.import_events(lines(call_log(40)))
    monkeypatch.setattr(parquet_folder.os, "replace", real)
    reopened = ParquetEvents(folder.folder)
    assert len(reopened) == EventStore(":memory:").import_events(lines(call_log(40))).imported
    assert not (folder.folder / ".commit.json").exists() and not list(folder.folder.glob(".write-*"))


def test_foreign_or_newer_folders_are_refused_with_their_path(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ParquetFolderError, match=f"{tmp_path / 'other'} is not a ParquetEvents folder"):
        ParquetEvents(tmp_path / "other")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParquetFolderError, match="is a file"):
        ParquetEvents(tmp_path / "file")
    newer = ParquetEvents(tmp_path / "newer")
    manifest = json.loads((newer.folder / MANIFEST).read_text())
    (newer.folder / MANIFEST).write_text(json.dumps(manifest | {"version": 99}))
    with pytest.raises(ParquetFolderError, match=f"{newer.folder} was written by a newer catapult_nb"):
        ParquetEvents(newer.folder)
    (newer.folder / MANIFEST).write_text("{not json")
    with pytest.raises(ParquetFolderError, match="cannot be read"):
        ParquetEvents(newer.folder)


def test_duckdb_spark_style_and_pyarrow_readers_read_the_folder(week):
    store, events, *_ = week
    root = events.folder / "events"
    rows = duckdb.sql(f"SELECT date, count(*) FROM read_parquet('{root}/*/*.parquet', "
                      "hive_partitioning=true) GROUP BY date ORDER BY date").fetchall()
    assert [str(d) for d, _ in rows] == [f"2026-03-0{d}" for d in range(2, 9)]
    assert sum(n for _, n in rows) == len(store)
    table = ds.dataset(root, partitioning="hive", format="parquet").to_table()
    assert table.num_rows == len(store) and {"payload", "digest", "date", "time"} <= set(table.column_names)
    by_day = events.to_dataframe(date="2026-03-04")
    assert len(by_day) == rows[2][1] and (by_day["time"].dt.strftime("%Y-%m-%d") == "2026-03-04").all()
    assert events.sql("SELECT count(*) FROM events WHERE reason = ?", ["hung-up"]).fetchall()[0][0] == \
        (store.events["reason"] == "hung-up").sum()
    assert "ParquetEvents(" in repr(events) and "events=47,285" in repr(events)
    assert "<b>ParquetEvents</b>" in events._repr_html_()


def test_a_store_written_to_parquet_is_the_same_folder(week, tmp_path):
    store, events, *_ = week
    store.to_parquet(tmp_path / "written", partition_by="date")
    written = ParquetEvents(tmp_path / "written")
    assert written.v1_only() and events.v1_only()
    assert len(written) == len(store)
    pd.testing.assert_frame_equal(analysis.gather_table(written), analysis.gather_table(store),
                                  check_exact=True)
    digests = "SELECT list_sort(list(digest)) FROM events"
    assert written.sql(digests).fetchall() == events.sql(digests).fetchall()  # one identity, one writer
    assert written.import_events(WEEK).imported == 0
    again = write_store(store, tmp_path / "written")
    assert again.sql("SELECT count(*) FROM events").fetchall()[0][0] == len(store)


def test_an_imported_event_lands_in_the_day_of_its_own_time_not_of_its_arrival(folder):
    # given events of just before midnight received just after it, and one replayed a week later
    log = [{"payload": {"eventType": "dtmf", "dtmfDigit": "1", "callId": f"c-{i}",
                        "time": f"2026-01-01T23:59:5{i}Z"}, "received": f"2026-01-02T00:00:0{i}Z"}
           for i in range(3)]
    log.append({"payload": {"eventType": "hangup", "callId": "c-3", "time": "2026-01-03T10:00:00Z"},
                "received": "2026-01-10T10:00:00Z"})
    # when the log is imported straight into the folder
    assert folder.import_events(lines(log)).imported == 4
    # then each event is filed, and found, under the day of its time
    days = {p.name: len(ds.dataset(p).to_table()) for p in folder.folder.rglob("date=*")}
    assert days == {"date=2026-01-01": 3, "date=2026-01-03": 1}
    assert sorted(folder.to_dataframe(date="2026-01-01")["callId"]) == ["c-0", "c-1", "c-2"]
    assert list(folder.to_dataframe(date="2026-01-10")["callId"]) == []


def test_ids_grow_in_arrival_order_over_imports(folder):
    folder.import_events(lines(call_log(5)))
    first = folder.last_id
    folder.import_events(lines(call_log(9)[len(call_log(5)):]))
    ids = folder.to_dataframe().index.to_numpy()
    assert np.all(np.diff(ids) > 0) and ids[0] >= 1 and folder.last_id == ids[-1] > first


def test_voice_api_v2_webhooks_import_as_into_the_store(folder):
    v2 = {"eventType": "gather", "eventTime": at(1), "accountId": "9", "callId": "c-v2", "digits": "12",
          "terminatingDigit": "#", "callUrl": "https://example.com/calls/c-v2"}
    log = lines([v2, {"eventType": "dtmf", "time": at(0.5), "callId": "c-v1", "dtmfDigit": "1"}, v2])
    store = EventStore(":memory:")
    same_report(store.import_events(log), folder.import_events(log))
    assert not folder.v1_only()  # its table too is computed in DuckDB, v2 rows and all
    pd.testing.assert_frame_equal(folder.to_dataframe().reset_index(drop=True).drop(columns="payload"),
                                  store.to_dataframe().reset_index(drop=True).drop(columns="payload"))
    pd.testing.assert_frame_equal(analysis.gather_table(folder), analysis.gather_table(store))
    assert list(folder.to_dataframe()["dialect"]) == ["v2", "v1"]
