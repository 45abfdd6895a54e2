"""A columnar copy of an event store's records and strings, kept in one file beside its SQLite file.

A big frame spends most of its time scanning a million record rows out of SQLite. The store keeps a
copy of those records (and of the string table they refer to) in ``<store>-columns``, which NumPy and
Arrow read in one go; only the events stored after the copy was made are read from SQLite.

SQLite stays the durable truth. The copy is a cache that is checked against SQLite on every read, and
thrown away and rebuilt whenever it does not match:

* it names the store it was made from (a random id kept in the store's ``meta`` table) and the store's
  ``generation`` (bumped by every ``clear()``, in any process), so a copy of another file or from before
  a clear is never used;
* events only ever get new, higher ids, so a copy covers a prefix of the store: the events after its
  last id are read from SQLite in the same snapshot, and the store's count must equal the copy's plus
  those (an event removed behind the store's back shows here);
* a checksum (CRC-32) covers the header and the body, so a torn or damaged file is recognised.

The file is written whole to a temporary file and renamed over the old one, so a reader sees either
the old copy or the new one, never half of one, and a crash while writing leaves the old copy (or none).

Layout (little-endian): a 72-byte header — magic ``CNBCOLS1``, the store id (16 bytes), generation,
record count, last event id, string count ``k``, string bytes ``m``, the body's CRC-32, the header's
CRC-32 — then the body: the records (the store's fixed-width ``rec`` values, in id order), ``k + 2``
int64 string offsets (string id ``i`` is bytes ``offsets[i]:offsets[i + 1]``; id 0 is "absent") and
the ``m`` bytes of UTF-8 text.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["ColumnCache", "Columns", "empty_strings", "strings_array"]

log = logging.getLogger(__name__)

_MAGIC = b"CNBCOLS1"
_HEADER = struct.Struct("<8s16sqqqqqII")
_CHECKED = _HEADER.size - 4  # the header's own CRC covers everything before it


@dataclass(frozen=True)
class Columns:
    """What a valid copy holds."""

    records: np.ndarray  #: the records, oldest first (the store's record dtype)
    strings: pa.LargeStringArray  #: string id -> text; id 0 (absent) is null
    last_id: int  #: the newest event id the copy covers (0: none)


def empty_strings() -> pa.LargeStringArray:
    """The string table of an empty store: only id 0, which stands for "absent"."""
    return pa.array([None], type=pa.large_string())


def strings_array(offsets: np.ndarray, data: bytes | memoryview) -> pa.LargeStringArray:
    """A string table (id 0 null) over ``offsets`` (``k + 2`` int64, as in the file) and UTF-8 ``data``."""
    count = len(offsets) - 1
    validity = np.full((count + 7) // 8, 0xFF, dtype=np.uint8)
    validity[0] &= 0xFE  # id 0: absent
    return pa.LargeStringArray.from_buffers(
        count,
        pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int64)),
        pa.py_buffer(data),
        pa.py_buffer(validity),
        null_count=1,
    )


class ColumnCache:
    """The columnar copy of one store's records, in the file ``path``.

    :param path: the copy's file (the store's file name with ``-columns`` appended).
    :param record_dtype: the NumPy dtype of one record (its first field is the event id).
    """

    def __init__(self, path: str, record_dtype: np.dtype) -> None:
        self.path = path
        self._dtype = record_dtype
        self._sweep()  # what writers that died (killed mid-rewrite) left behind

    def load(self, store_id: bytes, generation: int) -> Columns | None:
        """The copy, if there is one for this store and generation and it is whole; else None."""
        try:
            with open(self.path, "rb") as file:
                raw = file.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.info("the columnar copy %s cannot be read (%s); reading SQLite", self.path, exc)
            return None
        return self._parse(raw, store_id, generation)

    def _parse(self, raw: bytes, store_id: bytes, generation: int) -> Columns | None:
        if len(raw) < _HEADER.size:
            return None
        magic, owner, gen, count, last_id, k, m, body_crc, header_crc = _HEADER.unpack_from(raw)
        if magic != _MAGIC or zlib.crc32(raw[:_CHECKED]) != header_crc:
            return None
        if owner != store_id or gen != generation:
            return None
        size = count * self._dtype.itemsize
        if min(count, k, m) < 0 or len(raw) != _HEADER.size + size + (k + 2) * 8 + m:
            return None
        body = memoryview(raw)[_HEADER.size :]
        if zlib.crc32(body) != body_crc:
            return None
        records = np.frombuffer(body, dtype=self._dtype, count=count)
        offsets = np.frombuffer(body, dtype=np.int64, count=k + 2, offset=size)
        if count and int(records["id"][-1]) != last_id:
            return None
        if offsets[0] != 0 or offsets[1] != 0 or offsets[-1] != m or np.any(np.diff(offsets) < 0):
            return None
        # the strings are copied out (a few MB): the store keeps them, and must not keep the records too
        strings = strings_array(offsets.copy(), bytes(body[size + (k + 2) * 8 :]))
        return Columns(records, strings, last_id)

    def save(self, store_id: bytes, generation: int, records: np.ndarray, strings: pa.Array) -> bool:
        """Write a copy of ``records`` and ``strings`` (id 0 null, the others not); False if it could not
        be written (the store works on without it)."""
        if strings.null_count != 1 or strings[0].is_valid:
            return False  # a gap in the string ids: not a table this file can hold
        offsets, data = _string_buffers(strings)
        body = [records.tobytes(), offsets.tobytes(), data]
        crc = 0
        for part in body:
            crc = zlib.crc32(part, crc)
        last_id = int(records["id"][-1]) if len(records) else 0
        fields = (_MAGIC, store_id, generation, len(records), last_id, len(offsets) - 2, len(data), crc)
        head = _HEADER.pack(*fields, 0)[:_CHECKED]
        head += struct.pack("<I", zlib.crc32(head))
        temporary = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(head)
                for part in body:
                    file.write(part)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.info("the columnar copy %s was not written (%s); SQLite is read instead", self.path, exc)
            with contextlib.suppress(OSError):
                os.remove(temporary)
            return False
        finally:
            self._sweep()
        return True

    def remove(self) -> None:
        """Delete the copy (if any)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)

    def _sweep(self) -> None:
        """Remove temporary files left by a process that died while writing: at once when the process
        named in the file's name is gone, else after an hour (a copy being written is younger)."""
        limit = time.time() - 3600
        for leftover in glob.glob(glob.escape(self.path) + ".*.tmp"):
            writer = leftover[len(self.path) + 1 :].split(".", 1)[0]
            with contextlib.suppress(OSError):
                if not _alive(writer) or os.stat(leftover).st_mtime < limit:
                    os.remove(leftover)


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (a temporary file's writer) may still run; True when unsure."""
    if os.name != "posix" or not pid.isdigit():
        return True  # on Windows os.kill(pid, 0) would end the process: leave it to the hour
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _string_buffers(strings: pa.Array) -> tuple[np.ndarray, bytes]:
    """The file's offsets (id 0 empty) and UTF-8 bytes of a string table."""
    strings = strings.cast(pa.large_string())
    _, offset_buffer, data_buffer = strings.buffers()
    start = strings.offset  # a slice shares its parent's buffers
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[start : start + len(strings) + 1].copy()
    data = b"" if data_buffer is None else bytes(memoryview(data_buffer)[offsets[0] : offsets[-1]])
    offsets -= offsets[0]
    return offsets, data
