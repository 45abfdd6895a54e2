"""Events larger than memory: a date-partitioned Parquet folder, queried through DuckDB.

:class:`ParquetEvents` keeps callback events where an :class:`~catapult_nb.store.store.EventStore` keeps them
in SQLite, in a layout that DuckDB (embedded, out of core, multi-threaded) reads in place and that
Spark, Trino or DuckDB on a cluster read unchanged when one machine is not enough::

    folder/
      catapult_nb-events.json              the manifest: format name and version, the last event id
      events/date=2026-03-02/part-….parquet    one row per event, split by the day (UTC) of its own time
      gathers/part-….parquet               the options each gather was created with, one file per write

Every events file has the same columns: ``id``, the known fields (``eventType``, ``time``, ``callId`` …,
as :data:`~catapult_nb.store.frames.EVENT_COLUMNS`), ``received``, ``source``, ``session``, ``payload``
(the event's JSON text) and ``digest`` (16 bytes: what identifies one delivery, see
:func:`~catapult_nb.store.parquet_folder.digest_sql`); the day is the Hive partition ``date``. Times are UTC
microseconds, which every engine reads. ``EventStore.to_parquet(folder, partition_by="date")`` and
:meth:`ParquetEvents.import_events` write through the one
:class:`~catapult_nb.store.parquet_folder.FolderWrite`, so the layout has one definition.

A write is all or nothing, and one write at a time (see :mod:`catapult_nb.store.parquet_folder`).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from catapult_nb.store.frames import CATEGORICAL, EVENT_COLUMNS, Payload, _PayloadBatch
from catapult_nb.store.parquet_folder import (
    _FORMAT,
    EVENTS_SCHEMA,
    FORMAT_VERSION,
    GATHERS_SCHEMA,
    MANIFEST,
    FolderWrite,
    ParquetFolderError,
    _locked,
    _quoted,
    _read_manifest,
    _recover,
    _write_json,
)

if TYPE_CHECKING:
    import duckdb

    from catapult_nb.store.importers import ImportReport

__all__ = ["MANIFEST", "ParquetEvents", "ParquetFolderError", "write_store"]


# --------------------------------------------------------------------------------------------------
# The folder as a store


class ParquetEvents:
    """Callback events in a date-partitioned Parquet folder, queried with DuckDB (see the module docstring).

    :param folder: the folder; made when missing. An empty folder becomes a new ParquetEvents folder.
    :param memory_limit: DuckDB's memory limit for queries and imports (beyond it, DuckDB works on disk).
    :raises ParquetFolderError: the folder holds something else, or a newer catapult_nb wrote it.
    """

    def __init__(self, folder: str | os.PathLike[str], *, memory_limit: str = "1GB") -> None:
        self.folder = Path(folder)
        self.memory_limit = memory_limit
        manifest = _read_manifest(self.folder)
        with _locked(self.folder):
            _recover(self.folder)
            manifest = _read_manifest(self.folder)
            if manifest is None:
                manifest = {"format": _FORMAT, "version": FORMAT_VERSION, "last_id": 0, "last_recorded": 0}
                _write_json(self.folder / MANIFEST, manifest)
        self._manifest = manifest
        self._con: duckdb.DuckDBPyConnection | None = None

    # -- DuckDB -----------------------------------------------------------------------------------

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection with the views ``events`` (every event, with its ``date``) and
        ``gathers`` (each gather's latest record)."""
        import duckdb

        spill = Path(tempfile.gettempdir()) / f"catapult_nb-duckdb-{os.getpid()}"  # DuckDB spills here
        # no insertion order kept (every read here orders what it needs): DuckDB streams in less memory
        con = duckdb.connect(config={"memory_limit": self.memory_limit, "temp_directory": str(spill),
                                     "preserve_insertion_order": False})
        self._views(con)
        return con

    def _views(self, con: duckdb.DuckDBPyConnection) -> None:
        events = self.folder / "events"
        if any(events.glob("date=*/*.parquet")):
            con.execute(
                "CREATE OR REPLACE VIEW events AS SELECT * FROM "
                f"read_parquet('{_quoted(events)}/*/*.parquet', "
                "hive_partitioning = true, hive_types = {'date': DATE})"
            )
        else:  # no file to read a schema from: an empty table of the same columns
            con.register("_no_events", pa.table(
                {f.name: pa.array([], f.type) for f in EVENTS_SCHEMA} | {"date": pa.array([], pa.date32())}))
            con.execute("CREATE OR REPLACE VIEW events AS SELECT * FROM _no_events")
        gathers = self.folder / "gathers"
        if any(gathers.glob("*.parquet")):
            source = f"read_parquet('{_quoted(gathers)}/*.parquet')"
        else:
            con.register("_no_gathers", pa.table({f.name: pa.array([], f.type) for f in GATHERS_SCHEMA}))
            source = "_no_gathers"
        con.execute(  # a gather's latest record, as one aggregate
            'CREATE OR REPLACE VIEW gathers AS SELECT "gatherId", unnest(latest) FROM (SELECT "gatherId", '
            'arg_max({\'callId\': "callId", \'createdTime\': "createdTime", \'session\': session, '
            "'options': options, 'recorded': recorded}, recorded) AS latest "
            f'FROM {source} GROUP BY "gatherId")'
        )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """This object's DuckDB connection (made on first use), with the views of :meth:`connect`."""
        if self._con is None:
            self._con = self.connect()
        return self._con

    def sql(self, query: str, params: Any = None) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation of ``query`` over the views ``events`` and ``gathers``:
        ``events.sql("select reason, count(*) from events group by reason").df()``.

        :param params: values for the query's ``?`` or ``$name`` placeholders.
        """
        return self.connection.sql(query, params=params)

    def _refresh(self) -> None:
        if self._con is not None:
            self._views(self._con)

    # -- writing ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[FolderWrite]:
        """One all-or-nothing write (the importers' and ``EventStore.to_parquet``'s): everything added in
        the block appears together when it ends, or nothing does."""
        with _locked(self.folder):
            _recover(self.folder)
            manifest = _read_manifest(self.folder)
            assert manifest is not None  # made in __init__
            self._manifest = manifest
            con = self.connect()
            writer = FolderWrite(self, con)
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.abort()
                raise
            finally:
                con.close()
        self._refresh()

    def import_events(self, source: Any, format: str | None = None, **options: Any) -> ImportReport:
        """Import callback events from a file, as :meth:`EventStore.import_events` does (same formats,
        checks, rejected-line report and dedupe identity; all or nothing), reading JSON lines in
        columns with DuckDB.

        :returns: an :class:`~catapult_nb.store.importers.ImportReport`.
        """
        from catapult_nb.store.parquet_import import import_events

        return import_events(self, source, format=format, **options)

    # -- reading ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.sql("SELECT count(*) FROM events").fetchall()[0][0])

    @property
    def last_id(self) -> int:
        """The newest event's id (0 when empty)."""
        return int(self._manifest["last_id"])

    def to_dataframe(
        self,
        call_id: str | None = None,
        gather_id: str | None = None,
        event_type: str | None = None,
        session: str | None = None,
        *,
        since: int | None = None,
        date: Any = None,
    ) -> pd.DataFrame:
        """The events as :meth:`EventStore.to_dataframe` gives them (same columns and dtypes, oldest first,
        index ``id``), filtered in DuckDB: meant for a slice, not for a year of events.

        :param call_id, gather_id, event_type, session: keep only events with this value.
        :param since: keep only events with an id greater than this.
        :param date: keep only events of this day (UTC; a date or ``"2026-03-02"``).
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("callId", call_id), ("gatherId", gather_id), ("eventType", event_type),
                              ("session", session)):
            if value is not None:
                clauses.append(f'"{column}" = ?')
                params.append(str(value))
        if since is not None:
            clauses.append("id > ?")
            params.append(int(since))
        if date is not None:
            clauses.append("date = ?::DATE")
            params.append(str(pd.Timestamp(date).date()))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = ", ".join(f'"{name}"' for name in EVENT_COLUMNS if name != "payload")
        table = self.sql(f"SELECT id, {columns} FROM events {where} ORDER BY id", params).to_arrow_table()
        return _frame(table, self)

    @property
    def events(self) -> pd.DataFrame:
        """Every event (``to_dataframe()``)."""
        return self.to_dataframe()

    def payload_texts(self, ids: np.ndarray) -> dict[int, str]:
        """The JSON texts of these events (what a frame's payloads read)."""
        if len(ids) == 0:
            return {}
        con = self.connect()  # its own: a payload may be read from another thread than the frame's
        try:
            con.register("wanted", pa.table({"id": pa.array(np.asarray(ids, dtype=np.int64))}))
            rows = con.sql(
                "SELECT id, payload FROM events WHERE id BETWEEN ? AND ? AND id IN (SELECT id FROM wanted)",
                params=[int(np.min(ids)), int(np.max(ids))],
            ).fetchall()
        finally:
            con.close()
        return dict(rows)

    def gathers(self, call_id: str | None = None) -> pd.DataFrame:
        """The recorded gathers, as :meth:`EventStore.gathers` gives them (``gatherId``, ``callId``,
        ``createdTime``, ``session``, ``options`` and one typed column per option).

        :param call_id: only this call's gathers.
        """
        from catapult_nb.store.reading import GATHER_OPTION_COLUMNS, flat_options

        where, params = ('WHERE "callId" = ?', [call_id]) if call_id is not None else ("", [])
        table = self.sql(
            f'SELECT "gatherId", "callId", "createdTime", session, options FROM gathers {where} '
            "ORDER BY recorded",
            params,
        ).df()
        parsed = {text: json.loads(text) for text in table["options"].unique()}
        flat = {text: flat_options(item) for text, item in parsed.items()}
        data: dict[str, Any] = {
            "gatherId": pd.array(table["gatherId"], dtype="string"),
            "callId": pd.array(table["callId"], dtype="string"),
            "createdTime": pd.to_datetime(table["createdTime"], utc=True).astype("datetime64[ns, UTC]"),
            "session": pd.array(table["session"], dtype="string"),
            "options": pd.Series([parsed[t] for t in table["options"]], dtype=object),
        }
        for name, dtype in GATHER_OPTION_COLUMNS.items():
            data[name] = pd.array([flat[t].get(name) for t in table["options"]], dtype=cast(Any, dtype))
        return pd.DataFrame(data)

    def option_sets(self, label: Any) -> pa.Table:
        """The gathers' distinct option sets (what ``analysis.gather_table`` joins): ``options`` (the JSON
        text as stored), ``set_id`` (a number), ``optionSet`` (``label(options)``) and one typed column
        per option."""
        from catapult_nb.store.reading import GATHER_OPTION_COLUMNS, flat_options

        texts = [text for (text,) in self.sql("SELECT DISTINCT options FROM gathers").fetchall()]
        parsed = [json.loads(text) for text in texts]
        flat = [flat_options(item) if isinstance(item, dict) else {} for item in parsed]
        labels = [label(item) if isinstance(item, dict) else None for item in parsed]
        sets: dict[str, Any] = {"options": pd.array(texts, dtype="string"),  # typed when there is none too
                                "set_id": np.arange(len(texts), dtype=np.int64),
                                "optionSet": pd.array(labels, dtype="string")}
        for name, dtype in GATHER_OPTION_COLUMNS.items():
            sets[name] = pd.array([values.get(name) for values in flat], dtype=cast(Any, dtype))
        return pa.Table.from_pandas(pd.DataFrame(sets), preserve_index=False)

    def v1_only(self) -> bool:
        """Whether every event is a Catapult v1 event (no Voice API v2 webhook among them)."""
        rows = self.sql("SELECT count(*) FROM events WHERE dialect IS DISTINCT FROM 'v1'").fetchall()
        return int(rows[0][0]) == 0

    def call(self, call_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One call's events and gathers (what ``analysis.plot_call_timeline`` draws).

        :raises ValueError: no event has this ``callId`` (the message names some that do).
        """
        events = self.to_dataframe(call_id=call_id)
        if events.empty:
            some = [c for (c,) in self.sql('SELECT DISTINCT "callId" FROM events WHERE "callId" IS NOT NULL '
                                           "LIMIT 5").fetchall()]
            raise ValueError(
                f"no events for call {call_id!r}; calls in {self.folder} include: {', '.join(some)}")
        return events, self.gathers(call_id=call_id)

    def summary(self) -> dict[str, Any]:
        """Counts at a glance: events, events by type, days, gathers."""
        rows = self.sql('SELECT "eventType", count(*) FROM events GROUP BY ALL ORDER BY 2 DESC').fetchall()
        days = self.sql("SELECT count(DISTINCT date) FROM events").fetchall()[0][0]
        gathers = self.sql("SELECT count(*) FROM gathers").fetchall()[0][0]
        return {"events": sum(n for _, n in rows), "by_type": {str(k): n for k, n in rows}, "days": days,
                "gathers": gathers}

    def close(self) -> None:
        """Close the DuckDB connection (the folder stays; a later query opens a new one)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> ParquetEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        info = self.summary()
        return (f"ParquetEvents({str(self.folder)!r}, events={info['events']:,}, days={info['days']}, "
                f"gathers={info['gathers']:,})")

    def _repr_html_(self) -> str:
        info = self.summary()
        types = ", ".join(f"{html.escape(k)}: {v:,}" for k, v in info["by_type"].items()) or "—"
        return (
            f"<div><b>ParquetEvents</b> <code>{html.escape(str(self.folder))}</code>"
            f"<table><tr><td>events</td><td>{info['events']:,}</td></tr>"
            f"<tr><td>by type</td><td>{types}</td></tr>"
            f"<tr><td>days</td><td>{info['days']}</td></tr>"
            f"<tr><td>gathers recorded</td><td>{info['gathers']:,}</td></tr></table></div>"
        )


def _frame(table: pa.Table, source: ParquetEvents) -> pd.DataFrame:
    """An events frame (:data:`~catapult_nb.store.frames.EVENT_DTYPES`) from rows read in DuckDB."""
    ids = table.column("id").to_numpy().astype(np.int64)
    data: dict[str, Any] = {}
    for name in EVENT_COLUMNS:
        if name in ("time", "received"):
            data[name] = pd.array(table.column(name).cast(pa.timestamp("ns", tz="UTC")).to_pandas(),
                                  dtype="datetime64[ns, UTC]")
        elif name == "payload":
            batch = _PayloadBatch(source, ids)
            payloads = np.empty(len(ids), dtype=object)
            payloads[:] = [Payload(batch, i) for i in ids.tolist()]
            data[name] = payloads
        elif name in CATEGORICAL:  # categories in order of first appearance, as the store's string ids
            values = table.column(name).to_numpy(zero_copy_only=False)
            seen = pd.unique(values[pd.notna(values)]) if len(values) else []
            data[name] = pd.Categorical(values, categories=pd.Index(list(seen), dtype=object))
        else:
            data[name] = pd.array(table.column(name), dtype="string")
    return pd.DataFrame(data, index=pd.Index(ids, name="id"))


def write_store(store: Any, folder: str | os.PathLike[str], **filters: Any) -> ParquetEvents:
    """Write an :class:`~catapult_nb.store.store.EventStore`'s events and recorded gathers into a
    ParquetEvents folder (``EventStore.to_parquet(folder, partition_by="date")``), through the folder's
    one writer: an event the folder holds already is not written again.

    :param filters: as for ``EventStore.to_dataframe`` (they select the gathers by call, gather or session).
    :returns: the folder as a :class:`ParquetEvents`.
    """
    from catapult_nb.store.exporters import gather_records
    from catapult_nb.store.keys import parse_time_ns

    events = ParquetEvents(folder)
    frame = store.export_frame(**filters)
    staged = pa.table({
        "number": pa.array(np.arange(1, len(frame) + 1, dtype=np.int64)),
        "p": pa.array(frame["payload"].to_numpy(dtype=object), pa.string()),
        "time_ns": _nanos(frame["time"]),
        "received_ns": _nanos(frame["received"]),
        "source": pa.array(frame["source"].to_numpy(dtype=object, na_value=None), pa.string()),
        "session": pa.array(frame["session"].to_numpy(dtype=object, na_value=None), pa.string()),
    })
    records = list(gather_records(store, filters))
    gathers = pa.table({
        "number": pa.array(np.arange(1, len(records) + 1, dtype=np.int64)),
        "gatherId": pa.array([r["gatherId"] for r in records], pa.string()),
        "callId": pa.array([r.get("callId") for r in records], pa.string()),
        "createdTime": pa.array([parse_time_ns(r.get("createdTime")) for r in records], pa.int64()),
        "session": pa.array([r.get("session") for r in records], pa.string()),
        "options": pa.array([json.dumps(r["options"], separators=(",", ":"), ensure_ascii=False)
                             for r in records], pa.string()),
    })
    with events.write() as write:
        write.add(staged)
        write.record_gathers(gathers)
    return events


def _nanos(times: pd.Series) -> pa.Array:
    """UTC times as nanoseconds since the epoch, null for NaT."""
    values = times.astype("datetime64[ns, UTC]")
    return pa.array(cast(Any, values.array).asi8, pa.int64(), mask=values.isna().to_numpy())
