"""The steps of a call flow, and :class:`Flow`, which checks them when it is built.

A step is a plain value: what to say or ask, and where to go next. Names of steps are the flow's
vocabulary: routes, ``invalid``, ``no_input``, ``exhausted`` and ``next`` point at them, and an
:class:`Ask`'s digits become a variable of the same name (``{code}`` in a later sentence).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from catapult_nb.errors import Error
from catapult_nb.options import GatherOptions, OptionError, Prompt, check_sentence

if TYPE_CHECKING:
    from catapult_nb.prompts.player import Listen, Unheard

__all__ = ["Ask", "Edge", "FlowError", "Hangup", "Play", "Say", "Step", "Transfer", "render"]

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
#: Prompt fields an :class:`Ask` or :class:`Say` may set beside its sentence.
VOICE_FIELDS = ("voice", "locale", "gender")


class FlowError(Error, ValueError):
    """A flow that could not run: the message names the step and the field, and says what to change.

    :ivar step: the step's name (None for the flow as a whole).
    :ivar field: the step's field (``routes``, ``invalid``, ``sentence``, ``max_digits`` …) or ``start``.
    """

    def __init__(self, message: str, *, step: str | None = None, field: str | None = None) -> None:
        where = f"step {step!r}" if step is not None else "flow"
        where += f", field {field!r}" if field else ""
        super().__init__(f"{where}: {message}")
        self.step = step
        self.field = field


def render(sentence: str, variables: Mapping[str, str]) -> str:
    """``sentence`` with each ``{name}`` replaced by that variable's digits, read key by key
    (``{code}`` with code ``12345`` → ``1 2 3 4 5``); a variable not yet captured reads as nothing."""
    return VARIABLE.sub(lambda m: " ".join(variables.get(m.group(1), "")), sentence)


@dataclass(frozen=True)
class Decision:
    """Where an :class:`Ask` goes after its gather: which way (``route``, ``invalid``, ``no_input``,
    ``exhausted``), to which step (None: hang up, outcome ``exhausted``), and why, in words."""

    kind: str
    target: str | None
    reason: str


@dataclass(frozen=True)
class Edge:
    """One way from a step to the next: a route, ``invalid``, ``no input``, ``exhausted`` or ``next``."""

    source: str
    target: str | None  # None: the call ends here (hang up)
    kind: str  # route | invalid | no_input | exhausted | next | end
    label: str  # what the diagram writes on the arrow


class Step:
    """The base of every step. ``kind`` is its name in diagrams and transcripts."""

    kind = "step"

    def edges(self, name: str) -> list[Edge]:  # pragma: no cover - every step overrides it
        raise NotImplementedError

    def check(self, name: str, steps: Mapping[str, Step]) -> None:
        """Raise :class:`FlowError` for anything that would stop this step from running."""
        for edge in self.edges(name):
            if edge.target is not None and edge.target not in steps:
                field_name = "routes" if edge.kind == "route" else edge.kind
                known = ", ".join(sorted(steps))
                raise FlowError(
                    f"{edge.target!r} is not a step of this flow (the steps are {known})",
                    step=name, field=field_name,
                )

    @property
    def sentence_text(self) -> str | None:
        return None

    def prompt(self, variables: Mapping[str, str] | None = None) -> Prompt | None:
        """What this step says or plays, ``{name}`` filled in from ``variables`` (None: nothing)."""
        return None

    def but(self, **changes: Any) -> Step:
        """A copy with some fields changed: ``flow.steps["code"].but(retries=1)``."""
        import dataclasses

        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def listen(self, **variables: str) -> Listen | Unheard:
        """Hear this step's prompt, spoken or played: ``flow.steps["confirm"].listen(code="12345")``.

        :returns: a player, or a note saying why there is nothing to hear (see
            :func:`catapult_nb.prompts.listen`).
        """
        from catapult_nb.prompts import listen

        return listen(self.prompt(variables))


def _check_text(step: str, field_name: str, sentence: Any, steps: Mapping[str, Step]) -> None:
    try:
        check_sentence(sentence)
    except OptionError as exc:
        raise FlowError(str(exc), step=step, field=field_name) from None
    for variable in VARIABLE.findall(sentence):
        if not isinstance(steps.get(variable), Ask):
            asks = ", ".join(n for n, s in steps.items() if isinstance(s, Ask))
            raise FlowError(
                f"{{{variable}}} names no Ask step; a variable is the digits an Ask step captured, "
                f"named after it (the Ask steps are {asks})",
                step=step, field=field_name,
            )


def _check_next(step: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise FlowError(f"next must be a step name or None (hang up), got {value!r}", step=step, field="next")


@dataclass(frozen=True, init=False)
class Ask(Step):
    """One gather: say ``sentence`` and collect digits, then go where the digits lead.

    :param sentence: the prompt; ``{name}`` is replaced by the digits step ``name`` captured, key by key.
    :param routes: ``{regular expression: step}``; the first that fully matches the digits wins.
    :param invalid: where digits that match no route go (default: this step again).
    :param no_input: where an ``inter-digit-timeout`` with no digits goes (default: this step again).
    :param retries: how many times this step may fail (``invalid`` / ``no_input``) and be tried again;
        one failure more goes to ``exhausted``.
    :param exhausted: where to go when the retries are used up (default: hang up, outcome ``exhausted``).
    :param answers: what synthetic callers enter here: a string, ``{string: weight}``, or a callable
        taking a numpy Generator.
    :param options: gather options in Python names (``max_digits``, ``terminating_digits``,
        ``inter_digit_timeout``, ``suppress_dtmf``, ``tag``) and the prompt's ``voice``, ``locale``,
        ``gender``. ``suppress_dtmf`` defaults to False here, so the transcript has each key's time.
    """

    sentence: str | None
    routes: dict[str, str]
    invalid: str | None
    no_input: str | None
    retries: int
    exhausted: str | None
    answers: Any
    options: dict[str, Any] = field(compare=False)

    kind = "ask"

    def __init__(
        self,
        sentence: str | None = None,
        *,
        routes: Mapping[str, str] | None = None,
        invalid: str | None = None,
        no_input: str | None = None,
        retries: int = 2,
        exhausted: str | None = None,
        answers: Any = None,
        **options: Any,
    ) -> None:
        for name, value in (
            ("sentence", sentence), ("routes", dict(routes or {})), ("invalid", invalid),
            ("no_input", no_input), ("retries", retries), ("exhausted", exhausted), ("answers", answers),
            ("options", options),
        ):
            object.__setattr__(self, name, value)

    @property
    def sentence_text(self) -> str | None:
        return self.sentence

    def prompt(self, variables: Mapping[str, str] | None = None) -> Prompt | None:
        return self.gather_options(render(self.sentence, variables or {}) if self.sentence else None).prompt

    def but(self, **changes: Any) -> Ask:
        fields = {
            "sentence": self.sentence, "routes": self.routes, "invalid": self.invalid,
            "no_input": self.no_input, "retries": self.retries, "exhausted": self.exhausted,
            "answers": self.answers, **self.options,
        }
        return Ask(**{**fields, **changes})

    def decide(self, name: str, digits: str, failures: dict[str, int]) -> Decision:
        """Where the flow goes when this step's gather ends with ``digits`` (not hung up).

        The first route whose expression fully matches wins and clears the step's failures; otherwise
        it is a failure (``invalid``, or ``no_input`` for no digits) counted in ``failures[name]``,
        and one failure more than ``retries`` goes to ``exhausted``. The flow runner, the test cases
        and the campaigns all decide here.
        """
        if digits:
            for pattern, target in self.routes.items():
                if re.fullmatch(pattern, digits):
                    failures[name] = 0
                    return Decision("route", target, f"matched {pattern}")
            kind, words, target = "invalid", "invalid", self.invalid or name
        else:
            kind, words, target = "no_input", "no input", self.no_input or name
        failures[name] = failures.get(name, 0) + 1
        if failures[name] > self.retries:
            return Decision("exhausted", self.exhausted, f"{words}; exhausted after {failures[name]} tries")
        return Decision(kind, target, words)

    def gather_options(self, sentence: str | None, tag: str | None = None) -> GatherOptions:
        """The gather this step sends, with ``sentence`` (variables already filled in) as its prompt."""
        options = dict(self.options)
        voice = {key: options.pop(key) for key in VOICE_FIELDS if key in options}
        options.setdefault("suppress_dtmf", False)
        if tag is not None and "tag" not in options:
            options["tag"] = tag
        prompt = Prompt(sentence=sentence, **voice) if sentence else None
        return GatherOptions(prompt=prompt, **options)

    def edges(self, name: str) -> list[Edge]:
        edges = [Edge(name, target, "route", pattern) for pattern, target in self.routes.items()]
        edges.append(Edge(name, self.invalid or name, "invalid", "invalid"))
        edges.append(Edge(name, self.no_input or name, "no_input", "no input"))
        edges.append(Edge(name, self.exhausted, "exhausted", f"{self.retries + 1} failures"))
        return edges

    def check(self, name: str, steps: Mapping[str, Step]) -> None:
        if not isinstance(self.routes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.routes.items()
        ):
            raise FlowError("routes must map regular expressions to step names", step=name, field="routes")
        for pattern in self.routes:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise FlowError(
                    f"{pattern!r} is not a regular expression: {exc}", step=name, field="routes"
                ) from None
        for field_name in ("invalid", "no_input", "exhausted"):
            value = getattr(self, field_name)
            if value is not None and not isinstance(value, str):
                raise FlowError(f"must be a step name or None, got {value!r}", step=name, field=field_name)
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise FlowError(f"must be a whole number ≥ 0, got {self.retries!r}", step=name, field="retries")
        answers = self.answers
        if answers is not None and not isinstance(answers, (str, dict)) and not callable(answers):
            raise FlowError(
                "must be a string, a {string: weight} dict or a callable taking a numpy Generator",
                step=name, field="answers",
            )
        super().check(name, steps)
        if self.sentence is not None:
            _check_text(name, "sentence", self.sentence, steps)
        try:
            self.gather_options(render(self.sentence, {}) if self.sentence else None)
        except OptionError as exc:
            prop = exc.prop.removeprefix("prompt.")
            raise FlowError(str(exc), step=name, field=GatherOptions.WIRE_NAMES.get(prop, prop)) from None
        except TypeError as exc:
            raise FlowError(f"unknown gather option: {exc}", step=name, field="options") from None


@dataclass(frozen=True)
class Say(Step):
    """Speak ``sentence``, wait until it is spoken, then go to ``next`` (None: hang up, ``completed``).

    ``voice``, ``locale`` and ``gender`` choose the voice, as in a gather's prompt.
    """

    sentence: str
    next: str | None = None
    voice: str | None = None
    locale: str | None = None
    gender: str | None = None

    kind = "say"

    @property
    def sentence_text(self) -> str | None:
        return self.sentence

    def prompt(self, variables: Mapping[str, str] | None = None) -> Prompt | None:
        return Prompt(
            sentence=render(self.sentence, variables or {}), voice=self.voice, locale=self.locale,
            gender=self.gender,
        )

    def edges(self, name: str) -> list[Edge]:
        return [Edge(name, self.next, "next", "")]

    def check(self, name: str, steps: Mapping[str, Step]) -> None:
        _check_next(name, self.next)
        super().check(name, steps)
        _check_text(name, "sentence", self.sentence, steps)
        if not self.sentence.strip():
            raise FlowError("a Say step needs words to speak", step=name, field="sentence")
        try:
            Prompt(sentence="x", voice=self.voice, locale=self.locale, gender=self.gender)
        except OptionError as exc:
            raise FlowError(str(exc), step=name, field=exc.prop.removeprefix("prompt.")) from None


@dataclass(frozen=True)
class Play(Step):
    """Play the WAV or MP3 at ``file_url``, wait until it ends, then go to ``next`` (None: hang up)."""

    file_url: str
    next: str | None = None

    kind = "play"

    def prompt(self, variables: Mapping[str, str] | None = None) -> Prompt | None:
        return Prompt(file_url=self.file_url)

    def edges(self, name: str) -> list[Edge]:
        return [Edge(name, self.next, "next", "")]

    def check(self, name: str, steps: Mapping[str, Step]) -> None:
        _check_next(name, self.next)
        super().check(name, steps)
        ok = isinstance(self.file_url, str) and urlsplit(self.file_url).scheme in ("http", "https")
        if not ok or not urlsplit(self.file_url).hostname:
            raise FlowError(
                f"must be an http:// or https:// URL of a WAV or MP3 file, got {self.file_url!r}",
                step=name, field="file_url",
            )


@dataclass(frozen=True)
class Transfer(Step):
    """Transfer the call to ``to`` (an E.164 number): the flow ends ``transferred``."""

    to: str

    kind = "transfer"

    def edges(self, name: str) -> list[Edge]:
        return []

    def check(self, name: str, steps: Mapping[str, Step]) -> None:
        if not isinstance(self.to, str) or not E164.match(self.to):
            raise FlowError(
                f"must be an E.164 number like +15550100999, got {self.to!r}", step=name, field="to"
            )


@dataclass(frozen=True)
class Hangup(Step):
    """Hang up: the flow ends ``completed``."""

    kind = "hangup"

    def edges(self, name: str) -> list[Edge]:
        return []


def check_steps(steps: Any, start: Any) -> dict[str, Step]:
    """The steps as a dict, checked: names, each step's fields, the start, and that all are reachable.

    :raises FlowError: naming the first step and field that would stop the flow.
    """
    if not isinstance(steps, Mapping) or not steps:
        raise FlowError("a flow needs a dict of named steps, such as {'menu': Ask(...)}", field="steps")
    checked: dict[str, Step] = {}
    for name, step in dict(steps).items():
        if not isinstance(name, str) or not NAME.match(name):
            raise FlowError(
                "a step name must be a word (letters, digits, _; not starting with a digit), so that "
                "{name} can stand for its digits", step=str(name), field="name",
            )
        if not isinstance(step, Step):
            raise FlowError(
                f"must be Ask, Say, Play, Transfer or Hangup, got {type(step).__name__}", step=name,
            )
        checked[name] = step
    if not isinstance(start, str) or start not in checked:
        raise FlowError(
            f"the start step {start!r} is not one of the steps ({', '.join(checked)})", field="start"
        )
    for name, step in checked.items():
        step.check(name, checked)
    reached = set(_reachable(checked, start))
    for name in checked:
        if name not in reached:
            raise FlowError(
                f"no route, invalid, no_input, exhausted or next leads here from the start step {start!r}",
                step=name, field="unreachable",
            )
    return checked


def _reachable(steps: Mapping[str, Step], start: str) -> Iterator[str]:
    seen, todo = {start}, [start]
    while todo:
        name = todo.pop()
        yield name
        for edge in steps[name].edges(name):
            if edge.target is not None and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)


