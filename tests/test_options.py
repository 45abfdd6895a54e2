"""GatherOptions and Prompt: every validation rule with its message, the wire mapping, and properties."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.options import (
    DTMF_KEYS,
    LOCALES,
    OPTION_FIELDS,
    VOICES,
    GatherOptions,
    OptionError,
    Prompt,
    voices_for,
)
from catapult_nb.store.reading import GATHER_OPTION_COLUMNS

CLOSED = "http://127.0.0.1:9"  # nothing is sent: a request would fail to connect
IDT_RANGE = "interDigitTimeout must be between 1 and 30 seconds,"
SEED = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}


def rejects(prop: str, *fragments: str, **kwargs: Any) -> OptionError:
    """Build GatherOptions(**kwargs), expect an OptionError about ``prop`` whose message has ``fragments``."""
    with pytest.raises(OptionError) as caught:
        GatherOptions(**kwargs)
    assert caught.value.prop == prop
    for fragment in fragments:
        assert fragment in str(caught.value)
    return caught.value


# -- the seed ------------------------------------------------------------------------------------------


def assert_the_seed_round_trips_exactly() -> None:
    """The seed's body comes back as the same JSON text: same values, same key order (the seed's)."""
    seed_text = json.dumps(SEED)
    options = GatherOptions.from_wire(SEED)
    assert options == GatherOptions(
        max_digits=5, terminating_digits="*", inter_digit_timeout=7,
        prompt=Prompt(sentence="Please enter your 5 digit code"),
    )
    assert json.dumps(options.to_wire()) == seed_text
    assert json.dumps(GatherOptions.from_wire(seed_text).to_wire()) == seed_text  # a JSON text works too
    assert json.dumps(GatherOptions.from_wire(seed_text.encode()).to_wire()) == seed_text
    # key order is the seed's whatever order the fields were given in
    shuffled = {"prompt": SEED["prompt"], "interDigitTimeout": "7", "maxDigits": "5",
                "terminatingDigits": "*"}
    assert json.dumps(GatherOptions.from_wire(shuffled).to_wire()) == seed_text


def test_the_seed_round_trips_exactly():
    assert_the_seed_round_trips_exactly()


def test_the_round_trip_check_catches_reordered_keys(monkeypatch: pytest.MonkeyPatch):
    """Break this catches (a dict comparison did not): a ``to_wire()`` that sorts its keys."""
    original = GatherOptions.to_wire
    monkeypatch.setattr(GatherOptions, "to_wire",
                        lambda self, **kw: dict(sorted(original(self, **kw).items())))
    with pytest.raises(AssertionError):
        assert_the_seed_round_trips_exactly()


def test_numbers_as_json_values_with_as_strings_false():
    options = GatherOptions.from_wire(SEED)
    assert options.to_wire(as_strings=False) == {
        "maxDigits": 5,
        "terminatingDigits": "*",
        "interDigitTimeout": 7,
        "prompt": {"sentence": "Please enter your 5 digit code"},
    }
    booleans = GatherOptions(suppress_dtmf=False, prompt=Prompt(loop_enabled=True, bargeable=False))
    assert booleans.to_wire() == {  # booleans stay booleans: the body the code snippets send
        "suppressDtmf": False, "prompt": {"loopEnabled": True, "bargeable": False}
    }
    assert booleans.to_wire(as_strings=False) == {
        "suppressDtmf": False, "prompt": {"loopEnabled": True, "bargeable": False}
    }


def test_absent_fields_are_left_out_and_defaults_are_the_apis():
    options = GatherOptions()
    assert options.to_wire() == {}
    assert (
        options.effective_max_digits,
        options.effective_inter_digit_timeout,
        options.effective_terminating_digits,
        options.effective_suppress_dtmf,
    ) == (30, 5.0, "#", True)
    set_ = GatherOptions(
        max_digits=3, inter_digit_timeout="2.5", terminating_digits="*#", suppress_dtmf=False
    )
    assert (
        set_.effective_max_digits,
        set_.effective_inter_digit_timeout,
        set_.effective_terminating_digits,
        set_.effective_suppress_dtmf,
    ) == (3, 2.5, "*#", False)


# -- maxDigits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [1, 30, "1", "30", " 12 ", 5.0])
def test_max_digits_accepted(given):
    assert 1 <= GatherOptions(max_digits=given).max_digits <= 30
    assert isinstance(GatherOptions(max_digits=given).max_digits, int)


def test_max_digits_31_names_the_property_and_the_limit():
    error = rejects("maxDigits", "maxDigits", "30", max_digits=31)
    assert isinstance(error, ValueError)
    assert str(error) == "maxDigits must be between 1 and 30, got 31"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (0, "maxDigits must be between 1 and 30, got 0"),
        (-3, "maxDigits must be between 1 and 30, got -3"),
        ("31", "maxDigits must be between 1 and 30, got 31"),
        (10**40, "maxDigits must be between 1 and 30, got a number of more than 15 digits"),
        (5.5, "maxDigits must be a whole number, got 5.5"),
        ("five", "maxDigits must be a whole number, got 'five'"),
        ("1_0", "maxDigits must be a whole number, got '1_0'"),
        ("٥", "maxDigits must be a whole number, got '٥'"),
        ("", "maxDigits must be a whole number, got ''"),
        (True, "maxDigits must be a whole number, got true"),
        ([5], "maxDigits must be a whole number, got a JSON array"),
        ({"n": 5}, "maxDigits must be a whole number, got a JSON object"),
        (float("nan"), "maxDigits must be a whole number, got nan"),
    ],
)
def test_max_digits_rejected(given, message):
    assert str(rejects("maxDigits", max_digits=given)) == message


# -- interDigitTimeout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "value"), [(1, 1), (30, 30), ("7", 7), ("2.5", 2.5), (0.5 + 0.5, 1.0),
                                              ("1e1", 10.0), (" 7.5 ", 7.5), (29.999, 29.999)])
def test_inter_digit_timeout_accepted(given, value):
    assert GatherOptions(inter_digit_timeout=given).inter_digit_timeout == value


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (45, "interDigitTimeout must be between 1 and 30 seconds, got 45"),
        ("45", "interDigitTimeout must be between 1 and 30 seconds, got 45"),
        (0, "interDigitTimeout must be between 1 and 30 seconds, got 0"),
        (30.5, "interDigitTimeout must be between 1 and 30 seconds, got 30.5"),
        # not rounded into the range in the message
        (0.9999999999999999, "interDigitTimeout must be between 1 and 30 seconds, got 0.9999999999999999"),
        (10**400, f"{IDT_RANGE} got a number of more than 15 digits"),
        ("1" * 400, f"{IDT_RANGE} got a number of more than 15 digits"),
        (float("inf"), "interDigitTimeout must be a finite number, got inf"),
        (float("nan"), "interDigitTimeout must be a finite number, got nan"),
        ("nan", "interDigitTimeout must be a number, got 'nan'"),
        ("seven", "interDigitTimeout must be a number, got 'seven'"),
        (False, "interDigitTimeout must be a number, got false"),
        (None, None),  # absent, not an error: checked below
    ],
)
def test_inter_digit_timeout_rejected(given, message):
    if given is None:
        assert GatherOptions(inter_digit_timeout=None).inter_digit_timeout is None
        return
    assert str(rejects("interDigitTimeout", inter_digit_timeout=given)) == message


# -- terminatingDigits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "value"), [("#", "#"), ("*", "*"), ("0123456789*#ABCD", DTMF_KEYS),
                                              ("abcd", "ABCD"), ("#*", "#*")])
def test_terminating_digits_accepted(given, value):
    assert GatherOptions(terminating_digits=given).terminating_digits == value


def test_terminating_digits_empty_says_what_to_give():
    assert str(rejects("terminatingDigits", terminating_digits="")) == (
        "terminatingDigits must not be empty: give at least one of 0-9 * # A-D (the default is '#')"
    )


@pytest.mark.parametrize(
    ("given", "bad"), [("x", "X"), ("#e", "E"), ("1 2", " "), ("ß", "ß"), ("#,", ","), ("+", "+")]
)
def test_terminating_digits_bad_characters_are_named(given, bad):
    error = rejects(
        "terminatingDigits", "may only contain 0-9 * # A-D", repr(given), terminating_digits=given
    )
    assert f"(bad: {bad!r})" in str(error) or f"(bad: {bad.lower()!r})" in str(error)


def test_terminating_digits_must_be_a_string():
    error = rejects("terminatingDigits", terminating_digits=5)
    assert str(error) == "terminatingDigits must be a string, got 5"


# -- tag, suppressDtmf ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "what"),
    [("one\x00two", "a control character (U+0000 at position 3)"),
     ("one \x1b[31m", "a control character (U+001B at position 4)"),
     ("\ud800 one", "a lone surrogate (U+D800 at position 0)")],
)
def test_a_sentence_the_engine_cannot_speak_is_refused_everywhere(sentence, what):
    """The form, the client, the simulator's gather and the renderer share one check."""
    from catapult_nb import prompts
    from catapult_nb.client import CatapultClient

    for make in (lambda: GatherOptions(sentence=sentence), lambda: Prompt(sentence=sentence),
                 lambda: GatherOptions.from_wire({"prompt": {"sentence": sentence}}),
                 lambda: prompts.render(sentence),
                 lambda: CatapultClient("u", "t", "s", base_url=CLOSED).speak_sentence("c-1", sentence)):
        with pytest.raises(OptionError, match="prompt.sentence holds " + re.escape(what)):
            make()
    assert GatherOptions(sentence="one\ttwo\nthree").prompt.sentence == "one\ttwo\nthree"


def test_tag_and_suppress_dtmf():
    assert GatherOptions(tag="order-17").to_wire() == {"tag": "order-17"}
    assert str(rejects("tag", tag=17)) == "tag must be a string, got 17"
    for text, value in [("true", True), ("FALSE", False), (" True ", True), (True, True)]:
        assert GatherOptions(suppress_dtmf=text).suppress_dtmf is value
    for bad, shown in [("yes", "'yes'"), (1, "1"), ("", "''")]:
        error = rejects("suppressDtmf", suppress_dtmf=bad)
        assert str(error) == f"suppressDtmf must be true or false, got {shown}"


# -- prompt: voice, locale, gender, sentence -----------------------------------------------------------


@pytest.mark.parametrize("voice", ["susan", "Susan", "SUSAN", "kate", "Simon", "JORGE", "luca"])
def test_voice_any_case(voice):
    prompt = Prompt(sentence="Hi", voice=voice)
    assert prompt.voice == voice  # sent as given; the API matches case-insensitively
    assert GatherOptions.from_wire({"prompt": {"voice": voice}}).prompt == Prompt(voice=voice)


@pytest.mark.parametrize("voice", ["alexa", "", "susan ", "sus an"])
def test_voice_rejected_with_the_list(voice):
    with pytest.raises(OptionError) as caught:
        Prompt(voice=voice)
    assert caught.value.prop == "prompt.voice"
    assert str(caught.value).startswith("prompt.voice must be one of susan, kate, julie, paul, dave")
    assert str(caught.value).endswith(f"got {voice!r}")


@pytest.mark.parametrize("locale", [*LOCALES, "EN_us", "es_mx", "FR"])
def test_locale_any_case(locale):
    assert Prompt(locale=locale).locale == locale


@pytest.mark.parametrize("locale", ["en-US", "en", "pt_BR", ""])
def test_locale_rejected_with_the_list(locale):
    with pytest.raises(OptionError, match=r"prompt.locale must be one of en_US, en_UK, es, es_MX") as caught:
        Prompt(locale=locale)
    assert caught.value.prop == "prompt.locale"


@pytest.mark.parametrize(
    ("gender", "ok"), [("female", True), ("Male", True), ("MALE", True), ("other", False), ("", False)]
)
def test_gender(gender, ok):
    if ok:
        assert Prompt(gender=gender).gender == gender
    else:
        with pytest.raises(OptionError, match=f"prompt.gender must be female or male, got {gender!r}"):
            Prompt(gender=gender)


def test_voice_locale_and_gender_are_not_checked_against_each_other():
    # DESIGN.md: each against the table, not against each other
    assert Prompt(voice="Simon", locale="en_UK", gender="male").to_wire() == {
        "voice": "Simon", "locale": "en_UK", "gender": "male"
    }
    assert Prompt(voice="susan", gender="male", locale="de").voice == "susan"


def test_voices_for_matches_language_and_gender():
    # by language: the UK voice speaks English too
    assert voices_for("en_US", "female") == ["susan", "kate", "julie", "bridget"]
    assert voices_for("es") == ["esperanza", "violeta", "jorge"]
    assert voices_for("ES_MX", "MALE") == ["jorge"]
    assert voices_for() == list(VOICES)


def test_sentence_length_limit():
    assert len(Prompt(sentence="x" * 1000).sentence) == 1000
    with pytest.raises(OptionError, match=r"prompt\.sentence must be at most 1000 characters, got 1001"):
        Prompt(sentence="x" * 1001)


def test_prompt_field_types():
    with pytest.raises(OptionError, match=r"prompt\.fileUrl must be a string, got a JSON object"):
        GatherOptions.from_wire({"prompt": {"fileUrl": {"url": "x"}}})
    with pytest.raises(OptionError, match=r"prompt\.loopEnabled must be true or false, got 'sometimes'"):
        GatherOptions.from_wire({"prompt": {"loopEnabled": "sometimes"}})
    with pytest.raises(OptionError, match=r"prompt\.bargeable must be true or false, got 0"):
        GatherOptions.from_wire({"prompt": {"bargeable": 0}})
    with pytest.raises(OptionError, match="prompt must be a JSON object or a Prompt, got a JSON array"):
        GatherOptions.from_wire({"prompt": ["Hi"]})
    with pytest.raises(OptionError, match="prompt must be a JSON object or a Prompt, got 5"):
        GatherOptions(prompt=5)


def test_prompt_shortcuts():
    assert GatherOptions(sentence="Hi").prompt == Prompt(sentence="Hi")
    assert GatherOptions(prompt="Hi").prompt == Prompt(sentence="Hi")
    assert GatherOptions(prompt={"sentence": "Hi", "loopEnabled": "true"}).prompt == Prompt(
        sentence="Hi", loop_enabled=True
    )
    assert GatherOptions.from_wire({"prompt": "Hi"}).to_wire() == {"prompt": {"sentence": "Hi"}}
    error = rejects("prompt", "either sentence= or prompt=", sentence="a", prompt=Prompt(sentence="b"))
    assert isinstance(error, ValueError)


# -- from_wire: JSON types, unknown properties, null ------------------------------------------------------


def test_null_means_absent():
    options = GatherOptions.from_wire(
        {"maxDigits": 1, "interDigitTimeout": None, "terminatingDigits": None, "tag": None,
         "prompt": {"sentence": None, "voice": None}}
    )
    assert options == GatherOptions(max_digits=1, prompt=Prompt())
    assert GatherOptions.from_wire({"maxDigits": 1, "prompt": None}).to_wire() == {"maxDigits": "1"}


def test_strings_numbers_and_booleans_as_strings_are_all_accepted():
    as_strings = GatherOptions.from_wire(
        {"maxDigits": "4", "interDigitTimeout": "2.5", "suppressDtmf": "false",
         "prompt": {"loopEnabled": "TRUE", "bargeable": "true"}}
    )
    as_values = GatherOptions.from_wire(
        {"maxDigits": 4, "interDigitTimeout": 2.5, "suppressDtmf": False,
         "prompt": {"loopEnabled": True, "bargeable": True}}
    )
    assert as_strings == as_values
    assert as_values.to_wire(as_strings=False)["interDigitTimeout"] == 2.5


@pytest.mark.parametrize(
    ("body", "prop", "message"),
    [
        ({"max_digits": 5}, "max_digits", "unknown gather property 'max_digits'; the known ones are"),
        ({"prompt": {"text": "x"}}, "prompt.text", "unknown prompt property 'text'; the known ones are"),
        ([], "body", "the gather body must be a JSON object, got a JSON array"),
        (5, "body", "the gather body must be a JSON object, got 5"),
        ("{not json", "body", "the gather body is not valid JSON"),
        (b"\xff", "body", "the gather body is not valid JSON"),
        ("[" * 100_000, "body", "nested too deeply"),
        ({"maxDigits": {"value": 5}}, "maxDigits", "maxDigits must be a whole number, got a JSON object"),
        ({"tag": ["a"]}, "tag", "tag must be a string, got a JSON array"),
        ({"terminatingDigits": True}, "terminatingDigits", "terminatingDigits must be a string, got true"),
    ],
)
def test_from_wire_rejections(body, prop, message):
    with pytest.raises(OptionError) as caught:
        GatherOptions.from_wire(body)
    assert caught.value.prop == prop
    assert message in str(caught.value)


def test_coerce_takes_every_form_and_refuses_mixtures():
    expected = GatherOptions(max_digits=5)
    assert GatherOptions.coerce(expected) is expected
    assert GatherOptions.coerce({"maxDigits": "5"}) == expected
    assert GatherOptions.coerce(max_digits=5) == expected
    assert GatherOptions.coerce() == GatherOptions()
    with pytest.raises(TypeError, match="either as one object/dict or as keyword arguments"):
        GatherOptions.coerce({"maxDigits": 5}, tag="t")
    with pytest.raises(TypeError, match="must be GatherOptions or a dict, got list"):
        GatherOptions.coerce([("maxDigits", 5)])


# -- display -------------------------------------------------------------------------------------------


def test_repr_shows_python_names_of_set_fields():
    options = GatherOptions.from_wire(SEED)
    assert repr(options) == (
        "GatherOptions(max_digits=5, terminating_digits='*', inter_digit_timeout=7, "
        "prompt=Prompt(sentence='Please enter your 5 digit code'))"
    )
    assert repr(GatherOptions()) == "GatherOptions()"
    assert eval(repr(options)) == options  # the repr is Python you can paste


def test_repr_html_lists_wire_fields_and_escapes():
    page = GatherOptions(max_digits=3, tag="<b>&", prompt=Prompt(sentence="a < b")).\
        _repr_html_()
    assert "<b>GatherOptions</b>" in page
    assert "<code>maxDigits</code></td><td>3</td>" in page
    assert "<code>prompt.sentence</code></td><td>a &lt; b</td>" in page
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page
    assert "request body" in page
    assert "all defaults" in GatherOptions()._repr_html_()


# -- properties ----------------------------------------------------------------------------------------

_cases = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])
_voices = st.builds(lambda name, case: case(name), st.sampled_from(list(VOICES)), _cases)
_locales = st.builds(lambda name, case: case(name), st.sampled_from(LOCALES), _cases)
_genders = st.builds(lambda name, case: case(name), st.sampled_from(["female", "male"]), _cases)
_timeouts = st.one_of(
    st.integers(1, 30), st.floats(1, 30, allow_nan=False, allow_infinity=False)
)
# any character but control characters (tabs and line breaks are fine), as check_sentence says
_speakable = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n\r")
_terminators = st.text(alphabet=DTMF_KEYS + "abcd", min_size=1, max_size=8)


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


prompts = st.builds(
    Prompt,
    sentence=_maybe(st.text(_speakable, max_size=60)),
    gender=_maybe(_genders),
    locale=_maybe(_locales),
    voice=_maybe(_voices),
    file_url=_maybe(st.text(max_size=40)),
    loop_enabled=_maybe(st.booleans()),
    bargeable=_maybe(st.booleans()),
)
valid_options = st.builds(
    GatherOptions,
    max_digits=_maybe(st.integers(1, 30)),
    inter_digit_timeout=_maybe(_timeouts),
    terminating_digits=_maybe(_terminators),
    tag=_maybe(st.text(max_size=40)),
    suppress_dtmf=_maybe(st.booleans()),
    prompt=_maybe(prompts),
)


@settings(max_examples=300, deadline=None)
@given(options=valid_options, as_strings=st.booleans())
def test_any_valid_options_survive_the_wire(options, as_strings):
    body = options.to_wire(as_strings=as_strings)
    # what goes on the wire is JSON, and reading it back gives the same options
    assert GatherOptions.from_wire(json.loads(json.dumps(body))) == options
    if as_strings:  # numbers as strings; booleans stay booleans
        assert all(isinstance(v, (str, bool)) for k, v in body.items() if k != "prompt")
        assert all(isinstance(v, bool) == (k == "suppressDtmf") for k, v in body.items() if k != "prompt")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    # values that pass some checks, so the fuzz also reaches the later ones
    | st.sampled_from(["5", " 7.5 ", "1e1", "#*", "abc", "true", "FALSE", "Susan", "en_us", "male", 5, 2.5]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Known keys mostly, so most examples get past the unknown-property check; a few unknown ones too.
wire_keys = st.sampled_from([*GatherOptions.WIRE_NAMES, "maxdigits", ""])
prompt_keys = st.sampled_from([*Prompt.WIRE_NAMES, "text"])


def _ok_or_option_error(make) -> GatherOptions | None:
    try:
        result = make()
    except OptionError as exc:
        assert isinstance(exc, ValueError)
        assert isinstance(exc.prop, str) and str(exc)
        return None
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(wire_keys, json_values, max_size=5),
    prompt=st.one_of(st.none(), json_values, st.dictionaries(prompt_keys, json_values, max_size=4)),
    noise=st.one_of(st.none(), json_values),
)
def test_any_json_is_either_accepted_or_refused_with_an_option_error(fields, prompt, noise):
    body: Any = dict(fields)
    if prompt is not None:
        body["prompt"] = prompt
    for candidate in (body, noise, json.dumps(body, allow_nan=True)):
        options = _ok_or_option_error(lambda c=candidate: GatherOptions.from_wire(c))
        if options is not None:
            # whatever was accepted is valid and sends a body that is accepted again
            assert GatherOptions.from_wire(options.to_wire()) == options
            assert GatherOptions.from_wire(options.to_wire(as_strings=False)) == options


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(list(GatherOptions.WIRE_NAMES.values())),  # every keyword, from the option table
    value=json_values,
)
def test_any_keyword_value_is_accepted_or_refused_with_an_option_error(name, value):
    options = _ok_or_option_error(lambda: GatherOptions(**{name: value}))
    if options is None:
        return
    wire_name = {v: k for k, v in GatherOptions.WIRE_NAMES.items()}[name]
    if value is None:  # None is "absent": nothing is sent, and the API's default applies
        assert getattr(options, name) is None and options.to_wire() == {}
        return
    # an accepted value is kept, sent under its wire name, and read back as the same options
    assert getattr(options, name) is not None
    assert list(options.to_wire()) == [wire_name]
    assert GatherOptions.from_wire(json.dumps(options.to_wire())) == options


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)))
def test_out_of_range_timeouts_name_the_range(value):
    options = _ok_or_option_error(lambda: GatherOptions(inter_digit_timeout=value))
    if options is None:
        return
    number = options.inter_digit_timeout
    assert math.isfinite(number) and 1 <= number <= 30


def test_the_docstring_examples_run():
    import doctest

    import catapult_nb.options

    result = doctest.testmod(catapult_nb.options)
    assert result.attempted >= 1 and result.failed == 0


def test_a_whole_number_written_as_a_decimal_string_is_whole():
    # the JSON number 5.0 is accepted, so the string "5.0" is too; "5.5" is not whole
    assert GatherOptions.from_wire({"maxDigits": "5.0"}).max_digits == 5
    with pytest.raises(OptionError, match="maxDigits must be a whole number"):
        GatherOptions.from_wire({"maxDigits": "5.5"})


def test_the_first_bad_field_is_named_in_the_seeds_order_with_the_prompt_last():
    with pytest.raises(OptionError) as info:
        GatherOptions.from_wire({"prompt": {"voice": "nobody"}, "interDigitTimeout": "45", "maxDigits": "31"})
    assert info.value.prop == "maxDigits"
    with pytest.raises(OptionError) as info:
        GatherOptions.from_wire({"prompt": {"voice": "nobody"}, "interDigitTimeout": "45",
                                 "terminatingDigits": ""})
    assert info.value.prop == "terminatingDigits"
    with pytest.raises(OptionError) as info:
        GatherOptions.from_wire({"prompt": {"voice": "nobody"}, "interDigitTimeout": "45"})
    assert info.value.prop == "interDigitTimeout"


@pytest.mark.parametrize("option", OPTION_FIELDS, ids=lambda option: option.wire)
def test_every_option_of_the_table_is_checked_and_named_by_its_wire_name(option):
    # given a JSON object where the option wants a number, a text or a boolean
    body = {"prompt": {option.key: {"a": 1}}} if "." in option.wire else {option.wire: {"a": 1}}
    with pytest.raises(OptionError) as caught:
        GatherOptions.from_wire(body)
    assert caught.value.prop == option.wire
    # and the store's gathers table has a typed column for it
    assert GATHER_OPTION_COLUMNS[option.wire] == option.dtype
