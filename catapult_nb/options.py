"""Gather options: validation, and the v1 wire format at the edge.

Inside the toolkit options have Python names (``max_digits``); on the wire they have the API's names
(``maxDigits``). :meth:`GatherOptions.to_wire` and :meth:`GatherOptions.from_wire` are the only places
that translate between the two.

The accepted ranges follow the project's decisions for the points the v1 documentation leaves open:
maxDigits 1..30, interDigitTimeout 1..30 seconds (decimals allowed), terminatingDigits non-empty and made
of ``0-9 * # A-D``, voice / locale / gender from the documented TTS table (case-insensitive).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from catapult_nb.errors import Error

if TYPE_CHECKING:
    from catapult_nb.prompts.player import Listen, Unheard

__all__ = [
    "DTMF_KEYS",
    "GENDERS",
    "LOCALES",
    "OPTION_FIELDS",
    "SHOWN_FIELDS",
    "VOICES",
    "GatherOptions",
    "OptionError",
    "OptionField",
    "Prompt",
    "flat_wire",
    "nest_wire",
]

#: Keys a caller can press (and a gather can end on).
DTMF_KEYS = "0123456789*#ABCD"

#: TTS voices by lower-case name, with the locale and gender they speak in (reference §8).
VOICES: dict[str, tuple[str, str]] = {
    "susan": ("en_US", "female"),
    "kate": ("en_US", "female"),
    "julie": ("en_US", "female"),
    "paul": ("en_US", "male"),
    "dave": ("en_US", "male"),
    "bridget": ("en_UK", "female"),
    "simon": ("en_UK", "male"),
    "esperanza": ("es_MX", "female"),
    "violeta": ("es_MX", "female"),
    "jorge": ("es_MX", "male"),
    "jolie": ("fr_FR", "female"),
    "bernard": ("fr_FR", "male"),
    "katrin": ("de_DE", "female"),
    "stefan": ("de_DE", "male"),
    "paola": ("it_IT", "female"),
    "luca": ("it_IT", "male"),
}

#: Locales the TTS engine knows, canonical spelling.
LOCALES: tuple[str, ...] = (
    "en_US", "en_UK", "es", "es_MX", "fr", "fr_FR", "de", "de_DE", "it", "it_IT",
)

#: Locales grouped by language, for matching a voice to a locale ("es" and "es_MX" are both Spanish).
LANGUAGE_OF_LOCALE: dict[str, str] = {loc.lower(): loc.split("_")[0].lower() for loc in LOCALES}

GENDERS: tuple[str, ...] = ("female", "male")

MAX_DIGITS_LIMIT = 30
INTER_DIGIT_TIMEOUT_RANGE = (1.0, 30.0)
SENTENCE_LIMIT = 1000


class OptionError(Error, ValueError):
    """An option has a value the API does not accept.

    ``prop`` is the wire name of the property (``maxDigits``, ``prompt.voice``), so a server can name it
    in a ``validation-error`` and a form can show the message beside the right field.
    """

    def __init__(self, prop: str, message: str) -> None:
        super().__init__(message)
        self.prop = prop  # wire name, dotted for prompt fields


# --------------------------------------------------------------------------------------------------
# Parsing of single wire values. The v1 API took numbers and booleans as JSON values or as strings.


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    if isinstance(value, int) and not isinstance(value, bool):
        return _show_number(value)
    return json.dumps(value) if isinstance(value, (bool, type(None))) else repr(value)


# ASCII digits only: Python's int()/float() would also take "1_0", "٥" or "infinity", which no JSON
# client sends and the API would refuse.
_INT_TEXT = re.compile(r"[+-]?[0-9]+(\.0*)?")  # "5" or "5.0"; not "5.5", "1_0" or "٥"
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _show_number(number: int | float) -> str:
    """A number for a message: short, but never rounded into a value that is in range (0.9999… is not 1)."""
    if isinstance(number, int):
        # str() of a huge int is slow, and refused past 4300 digits
        return str(number) if abs(number) < 10**15 else "a number of more than 15 digits"
    short = f"{number:g}"
    return short if float(short) == number else repr(number)


def parse_int(prop: str, value: Any) -> int:
    """Read an integer given as a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise OptionError(prop, f"{prop} must be a whole number, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        whole = value.strip().partition(".")[0]  # "5.0" is as whole as the JSON number 5.0
        try:
            return int(whole)
        except ValueError:  # more digits than Python converts
            pass
    raise OptionError(prop, f"{prop} must be a whole number, got {_describe(value)}")


def parse_number(prop: str, value: Any) -> int | float:
    """Read a finite number given as a JSON number or a numeric string; whole numbers stay ``int``."""
    if isinstance(value, bool):
        raise OptionError(prop, f"{prop} must be a number, got {_describe(value)}")
    number: int | float
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise OptionError(prop, f"{prop} must be a number, got {_describe(value)}") from None
    else:
        raise OptionError(prop, f"{prop} must be a number, got {_describe(value)}")
    if isinstance(number, float) and not math.isfinite(number):
        raise OptionError(prop, f"{prop} must be a finite number, got {_describe(value)}")
    return number


def parse_bool(prop: str, value: Any) -> bool:
    """Read a boolean given as a JSON boolean or as ``"true"`` / ``"false"`` (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise OptionError(prop, f"{prop} must be true or false, got {_describe(value)}")


# A lone surrogate ("\\ud800" in JSON) is not text: it cannot be stored, rendered or encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters other than tab and line breaks: espeak stops at a NUL and reads the rest as nothing.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _refuse(prop: str, text: str, pattern: re.Pattern[str], what: str, why: str) -> None:
    found = pattern.search(text)
    if found is not None:
        raise OptionError(
            prop, f"{prop} holds {what} (U+{ord(found.group()):04X} at position {found.start()}), {why}"
        )


def parse_str(prop: str, value: Any) -> str:
    if not isinstance(value, str):
        raise OptionError(prop, f"{prop} must be a string, got {_describe(value)}")
    _refuse(prop, value, _SURROGATE, "a lone surrogate", "which is not text: send the character itself")
    return value


def _wire_scalar(value: Any, as_strings: bool) -> Any:
    # Booleans stay JSON booleans either way: the code snippets and the SDKs send them so, and a preview
    # showing "false" where the code sends false read as two different requests.
    if not as_strings or isinstance(value, (str, bool)):
        return value
    return str(value)


# --------------------------------------------------------------------------------------------------
# Field checks shared by the constructors and from_wire.


def check_max_digits(value: Any) -> int:
    number = parse_int("maxDigits", value)
    if not 1 <= number <= MAX_DIGITS_LIMIT:
        raise OptionError(
            "maxDigits", f"maxDigits must be between 1 and {MAX_DIGITS_LIMIT}, got {_show_number(number)}"
        )
    return number


def check_inter_digit_timeout(value: Any) -> int | float:
    number = parse_number("interDigitTimeout", value)
    low, high = INTER_DIGIT_TIMEOUT_RANGE
    if not low <= number <= high:
        raise OptionError(
            "interDigitTimeout",
            f"interDigitTimeout must be between {low:g} and {high:g} seconds, got {_show_number(number)}",
        )
    return number


def check_terminating_digits(value: Any) -> str:
    text = parse_str("terminatingDigits", value).upper()
    if not text:
        raise OptionError(
            "terminatingDigits",
            "terminatingDigits must not be empty: give at least one of 0-9 * # A-D (the default is '#')",
        )
    # Judge the characters as given, so the message shows what the user typed ("ß", not "SS").
    bad = sorted({ch for ch in value if len(ch.upper()) != 1 or ch.upper() not in DTMF_KEYS})
    if bad:
        raise OptionError(
            "terminatingDigits",
            f"terminatingDigits may only contain 0-9 * # A-D, got {value!r} (bad: {''.join(bad)!r})",
        )
    return text


def _one_of(prop: str, value: Any, known: Iterable[str], expected: str) -> str:
    """``value`` as given, when its lower case is one of ``known``; else an error saying ``expected``."""
    text = parse_str(prop, value)
    if text.lower() not in known:
        raise OptionError(prop, f"{prop} must be {expected}, got {value!r}")
    return text


def check_voice(value: Any) -> str:
    return _one_of("prompt.voice", value, VOICES, f"one of {', '.join(VOICES)}")


def check_locale(value: Any) -> str:
    return _one_of("prompt.locale", value, LANGUAGE_OF_LOCALE, f"one of {', '.join(LOCALES)}")


def check_gender(value: Any) -> str:
    return _one_of("prompt.gender", value, GENDERS, "female or male")


def check_sentence(value: Any) -> str:
    text = parse_str("prompt.sentence", value)
    _refuse("prompt.sentence", text, _CONTROL, "a control character",
            "which cannot be spoken: remove it (tabs and line breaks are fine)")
    if len(text) > SENTENCE_LIMIT:
        raise OptionError(
            "prompt.sentence",
            f"prompt.sentence must be at most {SENTENCE_LIMIT} characters, got {len(text)}",
        )
    return text


def voices_for(locale: str | None = None, gender: str | None = None) -> list[str]:
    """Voice names that speak ``locale``'s language (and ``gender``); empty or None means any."""
    language = LANGUAGE_OF_LOCALE.get(locale.lower()) if locale else None
    return [
        name
        for name, (loc, sex) in VOICES.items()
        if (language is None or LANGUAGE_OF_LOCALE[loc.lower()] == language)
        and (not gender or sex == gender.lower())
    ]


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionField:
    """One gather option: its Python and wire names, how it is checked, its column, how it is shown.

    Everything that lists options reads this: :meth:`GatherOptions.to_wire` and
    :meth:`~GatherOptions.from_wire`, the event store's option columns, :mod:`catapult_nb.analysis`,
    :mod:`catapult_nb.snippets` and the gather form (:class:`catapult_nb.widgets.GatherForm`).
    """

    python: str  # the attribute of GatherOptions or Prompt (``max_digits``)
    wire: str  # the API's name, dotted for prompt fields (``maxDigits``, ``prompt.sentence``)
    check: Callable[[Any], Any]  # validates and normalises a value; raises OptionError naming ``wire``
    dtype: str  # the pandas dtype of its column in gather tables
    widget: str  # how the gather form edits it: one of WIDGETS
    row: int  # its place in the form (and in an option set's label) among the fields of its object
    label: str = ""  # the form's label; the wire name when empty
    help: str = ""  # the form's tooltip; the wire name when empty
    hint: str = ""  # the form's placeholder text
    example: Any = None  # the how-to page's example value: the form starts with it
    bounds: tuple[float, float] | None = None  # the form's lowest and highest number
    choices: tuple[str, ...] = ()  # the form's menu of values
    grouped: bool = True  # part of an option set's label; ``tag`` is not, it differs per gather

    def __post_init__(self) -> None:
        if self.widget not in WIDGETS:
            raise ValueError(f"{self.wire}: widget must be one of {', '.join(WIDGETS)}, got {self.widget!r}")

    @property
    def key(self) -> str:
        """The name inside its own object on the wire (``sentence`` for ``prompt.sentence``)."""
        return self.wire.rpartition(".")[2]

    @property
    def in_prompt(self) -> bool:
        """Whether the option lives in the gather's ``prompt`` object."""
        return self.wire.startswith("prompt.")


#: How the gather form can edit an option: a whole number, a number (half steps), terminating keys (with a
#: key picker), one line of text left out when blank, one line sent as typed (left out only when empty), a
#: prompt sentence (with a Listen button), a menu of ``choices``, true/false/left out, or a switch that
#: sends true when on.
WIDGETS = ("whole", "number", "keys", "text", "verbatim", "sentence", "choice", "tristate", "switch")


def _checked(prop: str, parse: Callable[[str, Any], Any]) -> Callable[[Any], Any]:
    return lambda value: parse(prop, value)


#: Every gather option, in the order the API's how-to page lists them (the order checks run in, so the
#: first bad field named is the first bad one on the page). Everything that lists options derives from
#: this table: to_wire/from_wire, the event store's option columns, analysis, snippets and the gather form.
OPTION_FIELDS: tuple[OptionField, ...] = (
    OptionField("max_digits", "maxDigits", check_max_digits, "Int64", "whole", row=0, example=5,
                bounds=(1, MAX_DIGITS_LIMIT), help="keys to collect, 1–30 (terminating digit not counted)"),
    OptionField("terminating_digits", "terminatingDigits", check_terminating_digits, "string", "keys",
                row=2, example="*", help="keys that end the gather: 0-9 * # A-D"),
    OptionField("inter_digit_timeout", "interDigitTimeout", check_inter_digit_timeout, "Float64", "number",
                row=1, example=7, bounds=INTER_DIGIT_TIMEOUT_RANGE, label="interDigitTimeout (s)",
                help="seconds to wait for each key, including the first; 1–30"),
    OptionField("tag", "tag", _checked("tag", parse_str), "string", "verbatim", row=3,
                hint="echoed in the gather event", grouped=False),
    OptionField("suppress_dtmf", "suppressDtmf", _checked("suppressDtmf", parse_bool), "boolean", "tristate",
                row=4, help="no per-key dtmf events while gathering (default on)"),
    OptionField("sentence", "prompt.sentence", check_sentence, "string", "sentence", row=0,
                example="Please enter your 5 digit code", hint="what the caller hears"),
    OptionField("gender", "prompt.gender", check_gender, "string", "choice", row=2, choices=GENDERS),
    OptionField("locale", "prompt.locale", check_locale, "string", "choice", row=1, choices=LOCALES),
    OptionField("voice", "prompt.voice", check_voice, "string", "choice", row=3, choices=tuple(VOICES),
                help="voices that speak the chosen locale"),
    OptionField("file_url", "prompt.fileUrl", _checked("prompt.fileUrl", parse_str), "string", "text", row=4,
                hint="https://…/prompt.wav (instead of a sentence)"),
    OptionField("loop_enabled", "prompt.loopEnabled", _checked("prompt.loopEnabled", parse_bool), "boolean",
                "switch", row=5, help="repeat the prompt until the first key"),
    OptionField("bargeable", "prompt.bargeable", _checked("prompt.bargeable", parse_bool), "boolean",
                "tristate", row=6, help="deprecated by the API: a key always stops the prompt"),
)
GATHER_FIELDS = tuple(f for f in OPTION_FIELDS if not f.in_prompt)
PROMPT_FIELDS = tuple(f for f in OPTION_FIELDS if f.in_prompt)
#: The options as people read them (the gather form, option-set labels, analysis columns): the gather's own
#: fields by ``row`` (timing before keys), then the prompt's.
SHOWN_FIELDS: tuple[OptionField, ...] = (
    *sorted(GATHER_FIELDS, key=lambda f: f.row), *sorted(PROMPT_FIELDS, key=lambda f: f.row),
)


def _check_fields(model: Any, table: tuple[OptionField, ...]) -> None:
    """Check and normalise every set field of ``model``, in the table's order."""
    for f in table:
        value = getattr(model, f.python)
        if value is not None:
            setattr(model, f.python, f.check(value))


def _unknown(kind: str, known: dict[str, str], data: dict[str, Any]) -> None:
    extra = [key for key in data if key not in known]
    if extra:
        raise OptionError(
            # dotted like every other prompt field's prop, so a form can find the right place
            f"prompt.{extra[0]}" if kind == "prompt" else str(extra[0]),
            f"unknown {kind} property {extra[0]!r}; the known ones are {', '.join(known)}",
        )


class _WireModel:
    """Shared wire mapping for the two option classes."""

    WIRE_NAMES: ClassVar[dict[str, str]]  # wire name -> Python name

    def _items(self) -> list[tuple[str, Any]]:
        python_to_wire = {py: wire for wire, py in self.WIRE_NAMES.items()}
        return [
            (python_to_wire[f.name], getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) is not None
        ]

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) is not None
        )
        return f"{type(self).__name__}({parts})"


@dataclass(eq=True, repr=False, kw_only=True)
class Prompt(_WireModel):
    """What the caller hears while the gather waits: a sentence spoken by TTS, or an audio file."""

    sentence: str | None = None  # TTS text, up to 1000 characters
    gender: str | None = None  # "female" (API default) or "male"
    locale: str | None = None  # e.g. "en_US" (API default)
    voice: str | None = None  # e.g. "susan" (API default)
    file_url: str | None = None  # WAV or MP3 to play instead of a sentence
    loop_enabled: bool | None = None  # repeat the prompt until the first key
    bargeable: bool | None = None  # deprecated by the API: a key always stops the prompt

    WIRE_NAMES: ClassVar[dict[str, str]] = {f.key: f.python for f in PROMPT_FIELDS}

    def __post_init__(self) -> None:
        _check_fields(self, PROMPT_FIELDS)

    def to_wire(self, *, as_strings: bool = True) -> dict[str, Any]:
        return {name: _wire_scalar(value, as_strings) for name, value in self._items()}

    def listen(self) -> Listen | Unheard:
        """Hear this prompt: an IPython ``Audio`` player labelled with its measured length (never autoplays).

        :returns: a :class:`catapult_nb.prompts.Listen`, or a :class:`catapult_nb.prompts.Unheard` note
            saying why there is nothing to hear (espeak-ng missing, a file that cannot be fetched).
        """
        from catapult_nb.prompts import listen

        return listen(self)

    @classmethod
    def from_wire(cls, data: Any) -> Prompt:
        if isinstance(data, str):  # some SDKs accepted a bare sentence
            return cls(sentence=data)
        if not isinstance(data, dict):
            raise OptionError("prompt", f"prompt must be a JSON object, got {_describe(data)}")
        _unknown("prompt", cls.WIRE_NAMES, data)
        kwargs = {cls.WIRE_NAMES[k]: v for k, v in data.items() if v is not None}
        return cls(**kwargs)


@dataclass(eq=True, repr=False, kw_only=True)
class GatherOptions(_WireModel):
    """The body of ``POST /v1/users/{userId}/calls/{callId}/gather``.

    Every field is optional; an absent field is left out of the request and the API's default applies
    (maxDigits 30, interDigitTimeout 5 s, terminatingDigits ``#``, suppressDtmf true). Values are
    checked when the object is made, so an invalid gather never reaches the network::

        >>> GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
        ...               prompt=Prompt(sentence="Please enter your 5 digit code")).to_wire()
        {'maxDigits': '5', 'terminatingDigits': '*', 'interDigitTimeout': '7', \
'prompt': {'sentence': 'Please enter your 5 digit code'}}
    """

    max_digits: int | None = None  # 1..30; the terminating digit is not counted
    terminating_digits: str | None = None  # any of these keys ends the gather
    inter_digit_timeout: int | float | None = None  # seconds, 1..30; also the wait for the first key
    tag: str | None = None  # echoed back in the gather event
    suppress_dtmf: bool | None = None  # no per-key dtmf events while gathering (API default true)
    prompt: Prompt | None = None  # played while waiting; the first key stops it
    sentence: str | None = field(default=None, repr=False, compare=False)  # shortcut for prompt.sentence

    WIRE_NAMES: ClassVar[dict[str, str]] = {**{f.wire: f.python for f in GATHER_FIELDS}, "prompt": "prompt"}

    def __post_init__(self) -> None:
        _check_fields(self, GATHER_FIELDS)
        if self.sentence is not None:
            if self.prompt is not None:
                raise OptionError("prompt", "give either sentence= or prompt=, not both")
            self.prompt = Prompt(sentence=self.sentence)
            self.sentence = None
        if isinstance(self.prompt, dict):
            self.prompt = Prompt.from_wire(self.prompt)
        elif isinstance(self.prompt, str):
            self.prompt = Prompt(sentence=self.prompt)
        elif self.prompt is not None and not isinstance(self.prompt, Prompt):
            got = _describe(self.prompt)
            raise OptionError("prompt", f"prompt must be a JSON object or a Prompt, got {got}")

    def _items(self) -> list[tuple[str, Any]]:
        return [item for item in super()._items() if item[0] in self.WIRE_NAMES]

    # -- the wire ----------------------------------------------------------------------------------

    def to_wire(self, *, as_strings: bool = True) -> dict[str, Any]:
        """The JSON body the API takes. Absent fields are left out.

        ``as_strings=True`` (the default) sends numbers as strings, as the v1 how-to pages do, and booleans
        as JSON booleans: the body the code snippets (:mod:`catapult_nb.snippets`) send too.
        ``as_strings=False`` sends JSON numbers. The API accepts both.
        """
        body: dict[str, Any] = {}
        for name, value in self._items():
            if isinstance(value, Prompt):
                body[name] = value.to_wire(as_strings=as_strings)
            else:
                body[name] = _wire_scalar(value, as_strings)
        return body

    @classmethod
    def from_wire(cls, data: Any) -> GatherOptions:
        """Read a request body: numbers and booleans as JSON values or strings, ``null`` as absent."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except RecursionError:
                raise OptionError("body", "the gather body is nested too deeply to be a gather") from None
            except ValueError as exc:
                raise OptionError("body", f"the gather body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise OptionError("body", f"the gather body must be a JSON object, got {_describe(data)}")
        _unknown("gather", cls.WIRE_NAMES, data)
        kwargs: dict[str, Any] = {cls.WIRE_NAMES[k]: v for k, v in data.items() if v is not None}
        return cls(**kwargs)  # the prompt (a dict here) is read last, so a bad top-level field is named first

    @classmethod
    def coerce(cls, options: GatherOptions | dict[str, Any] | None = None, **kwargs: Any) -> GatherOptions:
        """Accept a ``GatherOptions``, a wire dict, or keyword arguments (Python names)."""
        if options is not None and kwargs:
            raise TypeError("pass gather options either as one object/dict or as keyword arguments")
        if isinstance(options, GatherOptions):
            return options
        if isinstance(options, dict):
            return cls.from_wire(options)
        if options is not None:
            raise TypeError(f"gather options must be GatherOptions or a dict, got {type(options).__name__}")
        return cls(**kwargs)

    def listen(self) -> Listen | Unheard:
        """Hear this gather's prompt; see :meth:`Prompt.listen`."""
        from catapult_nb.prompts import listen

        return listen(self)

    # -- resolved values (the API's defaults filled in) ---------------------------------------------

    @property
    def effective_max_digits(self) -> int:
        return self.max_digits if self.max_digits is not None else MAX_DIGITS_LIMIT

    @property
    def effective_inter_digit_timeout(self) -> float:
        return float(self.inter_digit_timeout) if self.inter_digit_timeout is not None else 5.0

    @property
    def effective_terminating_digits(self) -> str:
        return self.terminating_digits if self.terminating_digits is not None else "#"

    @property
    def effective_suppress_dtmf(self) -> bool:
        return self.suppress_dtmf if self.suppress_dtmf is not None else True

    # -- display -------------------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(str(value))}</td></tr>"
            for name, value in flat_wire(self.to_wire(as_strings=False)).items()
        ) or "<tr><td colspan=2><i>all defaults</i></td></tr>"
        body = html.escape(json.dumps(self.to_wire(), indent=2))
        return (
            "<div><b>GatherOptions</b>"
            f"<table>{rows}</table>"
            f"<details><summary>request body</summary><pre>{body}</pre></details></div>"
        )


def flat_wire(body: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A wire body flattened the way gather tables name their columns: ``prompt`` becomes
    ``prompt.sentence`` and so on.

    :param body: a gather body as :meth:`GatherOptions.to_wire` gives it (or as recorded).
    :returns: dotted wire name -> value, in the body's order.
    """
    out: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, Mapping):
            out.update(flat_wire(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def nest_wire(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flat_wire`: ``{"prompt.sentence": "Hi"}`` becomes
    ``{"prompt": {"sentence": "Hi"}}``.

    :param flat: dotted wire name -> value, as gather tables name their columns.
    :returns: the wire body, in the order the names first appear.
    """
    out: dict[str, Any] = {}
    for name, value in flat.items():
        head, dot, rest = name.partition(".")
        if dot:
            out.setdefault(head, {})[rest] = value
        else:
            out[name] = value
    return out
