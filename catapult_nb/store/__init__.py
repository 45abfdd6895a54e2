"""Where events live: the SQLite :class:`EventStore`, its keys and frames, the columnar copy, and the
importers and exporters that bring events in and take them out.

Modules, top down: ``store`` (:class:`EventStore`), ``importers`` and ``exporters`` (formats in and
out), ``schema`` (the records' layout and the upgrade of older files), ``frames`` (the event column
table and the DataFrame builders), ``columnar`` (the columnar copy beside the SQLite file), ``bxml``
(the ``<Gather>`` verbs of a v2 BXML document), ``keys`` (identity, time and dialect of an event).
"""

from catapult_nb.store.frames import EVENT_COLUMNS, EVENT_DTYPES, Payload, events_frame
from catapult_nb.store.importers import FORMATS, ImportFormatError, ImportReport, import_events
from catapult_nb.store.store import (
    DEFAULT_PATH,
    BulkWriter,
    EventStore,
    StoreBusyError,
    StoreClosedError,
    WaitCancelled,
)

__all__ = [
    "DEFAULT_PATH",
    "EVENT_COLUMNS",
    "EVENT_DTYPES",
    "FORMATS",
    "BulkWriter",
    "EventStore",
    "ImportFormatError",
    "ImportReport",
    "Payload",
    "StoreBusyError",
    "StoreClosedError",
    "WaitCancelled",
    "events_frame",
    "import_events",
]
