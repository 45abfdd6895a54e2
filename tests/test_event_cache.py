"""The columnar copy beside the store's file: used when it matches SQLite, never stale, rebuilt when not.

Every test compares the store's frame with one built from SQLite alone (the copy switched off), so a
stale or damaged copy shows as a difference.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from catapult_nb.store import columnar as event_cache
from catapult_nb.store import reading as events
from catapult_nb.store.store import EventStore

#: reads of at least this many events use the copy in these tests
SMALL = 10


def event(i: int, call_prefix: str = "c") -> dict:
    """A distinct event (its time is its own millisecond); a few fields absent, as on the wire."""
    payload = {
        "eventType": ("gather", "dtmf", "hangup")[i % 3],
        "callId": f"{call_prefix}-{i // 4}",
        "time": f"2026-01-01T{i // 3_600_000 % 24:02d}:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}."
        f"{i % 1000:03d}Z",
    }
    if i % 3 == 0:
        payload |= {"gatherId": f"g-{i}", "digits": f"{i % 100:02d}", "reason": "max-digits"}
    if i % 3 == 1:
        payload["dtmfDigit"] = "0123456789*#"[i % 12]
    if i % 5 == 0:
        payload["tag"] = f"t{i % 7}"
    return payload


def add(store: EventStore, start: int, count: int, **kwargs: str) -> list[bool]:
    numbers = range(start, start + count)
    items = [(event(i, **kwargs), "test", f"s{i % 2}", 1_700_000_000 + i) for i in numbers]
    return store.add_many(items)


def from_sqlite(path: Path, **filters: object) -> pd.DataFrame:
    """The frame as SQLite alone gives it (a fresh store that never uses the copy)."""
    with mock.patch.object(events, "COLUMNS_MIN_EVENTS", 10**12), EventStore(path) as fresh:
        return fresh.to_dataframe(**filters)


def assert_same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame.drop(columns="payload"), expected.drop(columns="payload"))
    assert [p.to_dict() for p in frame["payload"]] == [p.to_dict() for p in expected["payload"]]


@pytest.fixture(autouse=True)
def small_reads_use_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "COLUMNS_MIN_EVENTS", SMALL)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite3"


@pytest.fixture
def store(path: Path) -> EventStore:
    with EventStore(path) as instance:
        yield instance


def columns_file(path: Path) -> Path:
    return path.with_name(path.name + "-columns")


def loads(monkeypatch: pytest.MonkeyPatch) -> list[event_cache.Columns | None]:
    """Record what each read of the copy gave (None: no usable copy)."""
    seen: list[event_cache.Columns | None] = []
    original = event_cache.ColumnCache.load

    def spy(self: event_cache.ColumnCache, *args: object) -> event_cache.Columns | None:
        seen.append(original(self, *args))
        return seen[-1]

    monkeypatch.setattr(event_cache.ColumnCache, "load", spy)
    return seen


def copy_is_valid(store: EventStore, path: Path) -> bool:
    meta = dict(store._rconn.execute("SELECT key, value FROM meta"))
    generation, store_id = meta["generation"], meta["store_id"]
    found = event_cache.ColumnCache(str(columns_file(path)), events.RECORD_DTYPE).load(
        bytes.fromhex(store_id), int(generation)
    )
    return found is not None and found.last_id == store.last_id


def test_a_big_read_writes_the_copy_and_a_fresh_process_reads_it(
    store: EventStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, 0, 60)
    first = store.to_dataframe()
    assert columns_file(path).is_file() and copy_is_valid(store, path)
    seen = loads(monkeypatch)
    with EventStore(path) as fresh:
        again = fresh.to_dataframe()
    assert seen and seen[0] is not None and len(seen[0].records) == 60
    assert_same(again, first)
    assert_same(again, from_sqlite(path))


def test_a_small_store_keeps_no_copy(store: EventStore, path: Path) -> None:
    add(store, 0, SMALL - 1)
    store.to_dataframe()
    assert not columns_file(path).exists()


def test_events_written_after_a_cached_read_are_in_the_next_frame(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    written = columns_file(path).stat().st_mtime_ns
    add(store, 60, 3, call_prefix="new")  # new strings too: calls the copy has never seen
    frame = store.to_dataframe()
    assert len(frame) == 63 and frame["callId"].iloc[-1] == "new-15"
    assert_same(frame, from_sqlite(path))
    assert columns_file(path).stat().st_mtime_ns == written  # a short tail is read from SQLite
    add(store, 63, 20)  # a long one: the copy is written again
    assert_same(store.to_dataframe(), from_sqlite(path))
    assert copy_is_valid(store, path)


def test_filters_on_a_cached_read(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    add(store, 60, 2)
    for filters in ({"since": 5}, {"since": 58}, {"event_type": "dtmf"}, {"session": "s1"},
                    {"event_type": "nothing"}, {"since": 30, "event_type": "gather"}):
        assert_same(store.to_dataframe(**filters), from_sqlite(path, **filters))
    assert store.summary()["by_type"] == {"gather": 21, "dtmf": 21, "hangup": 20}


def run(path: Path, code: str, returncode: int = 0) -> None:
    """Run ``code`` in another Python process, with ``store`` open on ``path``."""
    script = f"from catapult_nb.store.store import EventStore\nstore = EventStore({str(path)!r})\n"
    done = subprocess.run([sys.executable, "-c", script + textwrap.dedent(code)], timeout=120)
    assert done.returncode == returncode


def test_a_second_process_writing_is_seen(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    run(path, """
        store.add_many([({"eventType": "dtmf", "callId": "other", "time": f"2027-01-01T00:00:0{i}Z"},
                         "elsewhere", None, None) for i in range(3)])
    """)
    frame = store.to_dataframe()
    assert list(frame["source"].iloc[-3:]) == ["elsewhere"] * 3
    assert_same(frame, from_sqlite(path))


def test_a_clear_and_refill_by_a_second_process_is_seen(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    old_copy = columns_file(path).read_bytes()
    # as many events as before, with other values (and newer ids)
    run(path, """
        store.clear()
        store.add_many([({"eventType": "speak", "callId": f"x-{i}", "time": f"2027-01-01T00:00:{i:02d}Z"},
                         "elsewhere", None, None) for i in range(60)])
        store.close()
    """)
    assert not columns_file(path).exists()  # clear() removes it …
    columns_file(path).write_bytes(old_copy)  # … but a reader that started before could rename it back
    frame = store.to_dataframe()
    assert set(frame["eventType"]) == {"speak"} and frame.index.min() > 60
    assert_same(frame, from_sqlite(path))
    assert copy_is_valid(store, path)


def test_the_copy_names_its_store_and_generation(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    meta = dict(store._rconn.execute("SELECT key, value FROM meta"))
    generation, store_id = int(meta["generation"]), bytes.fromhex(meta["store_id"])
    cache = event_cache.ColumnCache(str(columns_file(path)), events.RECORD_DTYPE)
    found = cache.load(store_id, generation)
    assert found is not None and found.last_id == 60 and list(found.records["id"]) == list(range(1, 61))
    assert found.strings.to_pylist()[:3] == [None, "gather", "c-0"]
    assert cache.load(store_id, generation + 1) is None
    assert cache.load(bytes(16), generation) is None


def test_clear_removes_the_copy(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    store.clear()
    assert not columns_file(path).exists()
    assert len(store.to_dataframe()) == 0


def test_a_deleted_copy_is_rebuilt(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    columns_file(path).unlink()
    assert_same(store.to_dataframe(), from_sqlite(path))
    assert copy_is_valid(store, path)


def damage(file: Path, how: str) -> None:
    raw = bytearray(file.read_bytes())
    if how == "truncated":
        raw = raw[: len(raw) // 2]
    elif how == "header byte":
        raw[30] ^= 0x01
    elif how == "record byte":
        raw[event_cache._HEADER.size + 100] ^= 0x40
    elif how == "string byte":
        raw[-3] ^= 0x20
    elif how == "longer":
        raw += b"\0" * 84
    elif how == "empty":
        raw = bytearray()
    elif how == "garbage":
        raw = bytearray(os.urandom(len(raw)))
    file.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "how", ["truncated", "header byte", "record byte", "string byte", "longer", "empty", "garbage"]
)
def test_a_damaged_copy_is_not_used_and_is_rebuilt(
    store: EventStore, path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    damage(columns_file(path), how)
    seen = loads(monkeypatch)
    assert_same(store.to_dataframe(), from_sqlite(path))
    assert seen == [None]
    assert copy_is_valid(store, path)


def test_the_copy_of_another_store_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = tmp_path / "one.sqlite3", tmp_path / "two.sqlite3"
    with EventStore(one) as first, EventStore(two) as second:
        add(first, 0, 60)
        add(second, 0, 60, call_prefix="other")
        first.to_dataframe()
        columns_file(one).replace(columns_file(two))  # same generation and ids, other events
        seen = loads(monkeypatch)
        assert_same(second.to_dataframe(), from_sqlite(two))
        assert seen == [None]


def test_events_removed_behind_the_stores_back_are_not_served(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    with store._wconn:  # another tool deleting rows: no generation change, same newest id
        store._wconn.execute("DELETE FROM events WHERE id IN (7, 8)")
    frame = store.to_dataframe()
    assert 7 not in frame.index and len(frame) == 58
    assert_same(frame, from_sqlite(path))
    store._wconn.execute("DELETE FROM events WHERE id > 50")  # an older file restored: fewer ids
    assert_same(store.to_dataframe(), from_sqlite(path))
    assert copy_is_valid(store, path)


def test_duplicates_are_still_recognised_with_a_copy(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    assert add(store, 55, 10) == [False] * 5 + [True] * 5
    frame = store.to_dataframe()
    assert len(frame) == 65 and frame.index.is_unique
    assert_same(frame, from_sqlite(path))


def test_a_crash_while_the_copy_is_written_leaves_the_store_correct(store: EventStore, path: Path) -> None:
    add(store, 0, 60)
    store.to_dataframe()
    before = columns_file(path).read_bytes()
    add(store, 60, 30)
    # the process dies after writing the new copy's temporary file, before renaming it over the old one
    run(path, """
        import os
        from catapult_nb.store import columnar as event_cache, reading as events
        events.COLUMNS_MIN_EVENTS = 10
        event_cache.os.replace = lambda *args: os._exit(3)
        store.to_dataframe()
    """, returncode=3)
    assert columns_file(path).read_bytes() == before  # the old copy, whole
    assert_same(store.to_dataframe(), from_sqlite(path))
    assert copy_is_valid(store, path)


def test_a_copy_that_cannot_be_written_leaves_the_store_working(
    store: EventStore, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    columns_file(path).mkdir()  # something else in its place: the rename fails
    add(store, 0, 60)
    with caplog.at_level("INFO", logger="catapult_nb.store.columnar"):
        assert_same(store.to_dataframe(), from_sqlite(path))
    assert "was not written" in caplog.text
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_leftover_temporary_files_are_swept(store: EventStore, path: Path) -> None:
    stale = path.with_name(path.name + "-columns.123.abcd.tmp")
    fresh = path.with_name(path.name + f"-columns.{os.getppid()}.abcd.tmp")  # its writer still runs
    stale.write_bytes(b"half a copy")
    fresh.write_bytes(b"another process is writing this one")
    hour_ago = time.time() - 2 * 3600
    os.utime(stale, (hour_ago, hour_ago))
    add(store, 0, 60)
    store.to_dataframe()
    assert not stale.exists() and fresh.exists()


def test_temporary_files_of_writers_that_died_are_swept_when_the_store_opens(path: Path) -> None:
    # given rewrites of the copy killed half-way: their temporary files are minutes old
    with EventStore(path) as store:
        add(store, 0, 60)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = [path.with_name(f"{path.name}-columns.{dead}.{n:04x}.tmp") for n in range(3)]
    for leftover in left:
        leftover.write_bytes(b"half a copy")
    running = path.with_name(f"{path.name}-columns.{os.getppid()}.beef.tmp")
    running.write_bytes(b"a copy being written")
    # when the store is opened again, then the dead writers' files are gone and the running one's kept
    with EventStore(path):
        assert [leftover.exists() for leftover in left] == [False] * 3
        assert running.exists()


def test_an_older_backup_restored_under_the_copy_is_not_served_from_it(path: Path) -> None:
    # given a backup of the store at 40 events, then 30 more events and a read that writes the copy
    backup = path.with_name("backup.sqlite3")
    with EventStore(path) as store:
        add(store, 0, 40)
        with sqlite3.connect(backup) as target:
            store._rconn.backup(target)
        add(store, 40, 30)
        store.to_dataframe()
    assert columns_file(path).exists()
    # when the backup is restored (the copy stays) and other events arrive: the same store id and count
    backup.replace(path)
    with EventStore(path) as store:
        add(store, 1000, 30, call_prefix="later")
        # then the frame is SQLite's, not the copy's rows 41 to 70 with the restored store's strings
        assert_same(store.to_dataframe(), from_sqlite(path))
        assert store.to_dataframe()["callId"].str.startswith("later").sum() == 30


def test_a_store_copied_over_another_is_not_served_from_the_others_copy(tmp_path: Path) -> None:
    one, two = tmp_path / "one.sqlite3", tmp_path / "two.sqlite3"
    with EventStore(one) as first:
        add(first, 0, 50)
    shutil.copyfile(one, two)  # two is one's twin: the same store id
    with EventStore(one) as first, EventStore(two) as second:
        add(first, 50, 20)
        add(second, 500, 20, call_prefix="twin")
        first.to_dataframe()  # one's copy
        columns_file(one).replace(columns_file(two))
        assert_same(second.to_dataframe(), from_sqlite(two))
