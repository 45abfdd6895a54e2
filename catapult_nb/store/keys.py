"""What identifies an event and how it is written: canonical JSON, the dedupe digest, the stored text,
and event times as UTC nanoseconds. See :class:`~catapult_nb.store.EventStore` for what identifies one
delivery.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
import pandas as pd

__all__ = [
    "V2_MARKERS", "canonical_json", "dialect_of", "digest_of", "encode_payload", "event_time", "field_text",
    "parse_time_ns", "payload_digest", "time_field", "time_problem", "to_ns",
]

#: Fields only a v2 webhook carries (every v2 webhook has all three; no v1 event has any).
V2_MARKERS = ("eventTime", "accountId", "callUrl")


def dialect_of(payload: Mapping[str, Any]) -> str | None:
    """``"v2"`` for a Voice API v2 webhook (it has ``eventTime``, ``accountId`` or ``callUrl``), ``"v1"``
    for a Catapult v1 event (it has ``time``), None for neither."""
    if any(name in payload for name in V2_MARKERS):
        return "v2"
    return "v1" if "time" in payload else None


def time_field(payload: Mapping[str, Any]) -> str:
    """The name of the field that holds the event's time: ``eventTime`` on v2, ``time`` on v1."""
    return "eventTime" if dialect_of(payload) == "v2" else "time"


def event_time(payload: Mapping[str, Any]) -> Any:
    """The event's time as sent (v2's ``eventTime``, v1's ``time``); None when absent."""
    return payload.get(time_field(payload))

# Built once: json.dumps with options builds a new encoder per call, which a bulk import feels.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_STORED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The payload as JSON with sorted keys and no spaces: equal payloads give equal text."""
    return _CANONICAL(payload)


def payload_digest(payload: Mapping[str, Any]) -> bytes:
    """The dedupe key of a delivery: 16 bytes of BLAKE2b over its canonical JSON when the event carries
    its time (v1's ``time``, v2's ``eventTime``); random (never a duplicate) when it does not, as nothing then
    tells a retry from a
    second event. See :class:`EventStore`."""
    return digest_of(payload, canonical_json(payload).encode("utf-8"))  # also checks it is JSON


def digest_of(payload: Mapping[str, Any], canonical: bytes) -> bytes:
    if event_time(payload) in (None, ""):
        return secrets.token_bytes(16)
    return hashlib.blake2b(canonical, digest_size=16).digest()


# Values orjson writes exactly as the json encoders above do (checked against them in the tests): floats
# (whose spelling differs, e.g. 1e+16), containers (which may hold floats) and subclasses are left to json.
_ORJSON_SAFE = frozenset({str, int, bool, type(None)})
_SORTED = orjson.OPT_SORT_KEYS


def encode_payload(payload: dict[str, Any]) -> tuple[str, bytes]:
    """The stored text and the canonical UTF-8 bytes of a payload, each encoded once.

    :raises TypeError: or ValueError: it is not storable JSON.
    """
    if _ORJSON_SAFE.issuperset(map(type, payload.values())):
        try:
            return orjson.dumps(payload).decode("utf-8"), orjson.dumps(payload, option=_SORTED)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate, a non-str key
            pass
    return _STORED(payload), _CANONICAL(payload).encode("utf-8")


#: How deeply a callback's JSON may nest (the object itself is level 1); v1 events are flat. The receiver
#: and the importer hold to it alike, so an imported event can be replayed to the receiver.
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when lists and objects nest more than ``limit`` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def field_text(value: Any) -> str | None:
    """A known field's value as text; non-strings (``"digits": 7``) are kept as their JSON spelling."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_time_ns(value: Any) -> int | None:
    """An ISO-8601 event time (``2014-07-31T01:01:27Z``) as UTC nanoseconds; None if absent, unreadable,
    or outside what a pandas timestamp holds (1677-09-21 to 2262-04-11): such a time stays in the payload
    as the text it was, and the frame's ``time`` shows NaT."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # the API always sends UTC; a bare time is read as UTC too
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return in_time_range((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def in_time_range(nanoseconds: int) -> int | None:
    """``nanoseconds`` (UTC, from 1970) if a pandas timestamp can hold it (:data:`TIME_RANGE`), else None."""
    return nanoseconds if _FIRST_NS <= nanoseconds <= _LAST_NS else None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FIRST_NS, _LAST_NS = int(pd.Timestamp.min.value), int(pd.Timestamp.max.value)
#: The times an event's ``time`` and ``received`` can hold, as pandas' nanosecond timestamps do.
TIME_RANGE = "1677-09-21 to 2262-04-11"


def time_problem(payload: Mapping[str, Any]) -> str | None:
    """What is wrong with the event's time, in words, or None: an absent time is not wrong (the event is
    stored, see :func:`payload_digest`), one that is not ISO 8601 text is."""
    name = time_field(payload)
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            return None
        except ValueError:
            pass
    return f"{name} {repr(value)[:60]} is not an ISO 8601 time (such as 2026-01-01T10:00:00.000Z)"


def to_ns(moment: Any) -> int:
    """A receive time given as datetime / Timestamp / epoch seconds as UTC nanoseconds."""
    if isinstance(moment, (int, float)) and not isinstance(moment, bool):
        return int(moment * 1_000_000_000)
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)
