"""The fast encoder and decoder of the insert path give exactly what the json module gives.

Stored text and canonical JSON (hence the dedupe digest) must not change with the encoder: a store written
before must dedupe the same deliveries after.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catapult_nb.store.bulk import _options_text
from catapult_nb.store.formats import _decode_json
from catapult_nb.store.keys import _CANONICAL, _STORED
from catapult_nb.store.keys import encode_payload as _encode

TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    LEAVES, lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)
PAYLOADS = st.dictionaries(st.sampled_from(["digits", "time", "callId"]) | TEXT, VALUES, max_size=6)


def json_module(payload: dict) -> tuple[str, bytes]:
    return _STORED(payload), _CANONICAL(payload).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOADS)
def test_stored_and_canonical_text_are_what_json_writes(payload: dict) -> None:
    assert _encode(payload) == json_module(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"a": "\x00\x1f\x7f\u2028\ufeff\U0001f600\"\\/", "é": True, "z": None, "k": -5},
        {"big": 2**64, "small": -(2**63) - 1},
        {"f": 1e16, "g": 0.1, "h": -0.0},
        {"b": "x", "a": {"d": [1.5, 2**65]}},
        {1: "int key"},
    ],
)
def test_edge_payloads_encode_as_json_writes_them(payload: dict) -> None:
    assert _encode(payload) == json_module(payload)


@pytest.mark.parametrize("payload", [{"n": float("nan")}, {"s": "\ud800"}, {1: "x", "a": "y"}])
def test_what_json_refuses_is_refused(payload: dict) -> None:
    with pytest.raises(json_module_error(payload)):
        _encode(payload)


def json_module_error(payload: dict) -> type[Exception]:
    try:
        json_module(payload)
    except (TypeError, ValueError) as exc:
        return type(exc)
    raise AssertionError("json accepts it")


def json_decode(line: bytes) -> object:
    return json.loads(line.decode("utf-8"), parse_constant=lambda name: pytest.fail(name))


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOADS)
def test_a_line_reads_as_json_reads_it(payload: dict) -> None:
    line = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    value, problem = _decode_json(line)
    assert problem is None
    expected = json_decode(line)
    assert value == expected
    assert json.dumps(value) == json.dumps(expected)  # same types too: an int stays an int


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"a": NaN}', "not-json"),
        (b'{"a": 1e999}', None),  # json reads it (the store refuses it later, as before)
        (b'{"a": "\\ud800"}', "not-json"),
        (b'{"a": "\xff"}', "not-utf-8"),
        (b'{"a": 1,}', "not-json"),
        (b'{"n": 123456789012345678901234567890}', None),
    ],
)
def test_bad_lines_get_the_reasons_they_always_had(line: bytes, reason: str | None) -> None:
    value, problem = _decode_json(line)
    assert (problem[0] if problem else None) == reason
    if reason is None:
        assert json.dumps(value) == json.dumps(json.loads(line))


@pytest.mark.parametrize(
    "sequence",
    [
        [{"a": None}, {"a": float("nan")}, {"a": None}],
        [{"maxDigits": 5, "prompt": {"sentence": "é"}}, {"maxDigits": 5.0, "prompt": {"sentence": "é"}}],
        [{"b": 1, "a": 2}, {"a": 2, "b": 1}, {"b": 1, "a": 2}],
    ],
)
def test_recorded_options_are_written_as_json_writes_them(sequence: list[dict]) -> None:
    for options in sequence:
        assert _options_text(options) == json.dumps(options)
