"""A whole flow moved to v2: each Ask's gather ported (:mod:`catapult_nb.gather_port`), and its BXML app.

:func:`catapult_nb.migrate.flow` and :meth:`Flow.to_bxml <catapult_nb.flows.Flow.to_bxml>` are this.

:func:`flow` keeps the flow as it is (its steps, routes, retries and answers are the app's logic, the same on
both dialects) and ports each :class:`~catapult_nb.flows.Ask`'s gather. The result gives the engine each
step's v2 gather (:meth:`FlowMigration.spec`, what :func:`catapult_nb.migrate.compare` plays) and the
BXML app: one document per step (:attr:`FlowMigration.bxml`), each Ask's ``gatherUrl`` pointing at the
app's handler for that step, which decides the route and answers with the next step's document.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from catapult_nb.engine import GatherSpec
from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Transfer
from catapult_nb.gather_port import Difference, Migration, attributes, comment, gather, naive

if TYPE_CHECKING:
    from catapult_nb.flows.flow import Flow

__all__ = ["APP_URL", "FlowMigration", "flow"]

#: Where the v2 app answers, a placeholder: step ``code``'s gather result goes to ``{APP_URL}/code``.
APP_URL = "https://your.app/flow"


class FlowMigration:
    """A :class:`~catapult_nb.flows.Flow` and its v2 port, step by step.

    :ivar flow: the flow (unchanged: its logic is the app's, on either dialect).
    :ivar gathers: each Ask step's :class:`~catapult_nb.gather_port.Migration` (its sentence as written,
        ``{name}`` variables unfilled).
    :ivar kept: True for the port that keeps behaviour.
    """

    def __init__(self, flow: Flow, *, kept: bool = True, app_url: str = APP_URL) -> None:
        self.flow = flow
        self.kept = kept
        self.app_url = app_url.rstrip("/")
        port = gather if kept else naive
        self._port = port
        self.gathers: dict[str, Migration] = {
            name: port(step.gather_options(step.sentence), gather_url=f"{self.app_url}/{name}")
            for name, step in flow.steps.items() if isinstance(step, Ask)
        }
        self._specs: dict[tuple[str, str | None, float], GatherSpec] = {}

    def spec(self, name: str, step: Ask, sentence: str | None, prompt_seconds: float | None = None
             ) -> GatherSpec:
        """Step ``name``'s v2 gather with ``sentence`` (variables filled in) as its audio, for the engine.

        :param prompt_seconds: one play of the audio; None: the engine's estimate (as v1's campaigns).
        """
        key = (name, sentence, -1.0 if prompt_seconds is None else prompt_seconds)
        found = self._specs.get(key)
        if found is None:
            if len(self._specs) > 10_000:  # sentences with variables: keep memory flat
                self._specs.clear()
            migration = self._port(step.gather_options(sentence), gather_url=f"{self.app_url}/{name}")
            found = self._specs[key] = migration.spec(prompt_seconds)
        return found

    @property
    def differences(self) -> list[tuple[str, Difference]]:
        """``(step, difference)`` for each Ask step's gather."""
        return [(name, d) for name, migration in self.gathers.items() for d in migration.differences]

    @property
    def bxml(self) -> dict[str, str]:
        """One v2 document per step, by step name: what the app answers when the call reaches it."""
        return {name: self.document(name) for name in self.flow.steps}

    def document(self, name: str) -> str:
        """Step ``name``'s document: an Ask's ``<Gather>``, a Say's ``<SpeakSentence>`` (a Play's
        ``<PlayAudio>``) then a ``<Redirect>`` to the next step or ``<Hangup>``, a ``<Transfer>``, a
        ``<Hangup>``. ``{name}`` in a sentence is the app's to fill in with that step's digits."""
        step = self.flow.steps[name]
        if isinstance(step, Ask):
            return self.gathers[name].bxml
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<Response>"]
        if isinstance(step, (Say, Play)):
            if isinstance(step, Say):
                speech = attributes([("voice", step.voice and step.voice.lower()), ("locale", step.locale),
                                     ("gender", step.gender and step.gender.lower())])
                lines.append(f"  <SpeakSentence{speech}>{escape(step.sentence)}</SpeakSentence>")
            else:
                lines.append(f"  <PlayAudio>{escape(step.file_url)}</PlayAudio>")
            if step.next is None:
                lines.append("  <Hangup/>")
            else:
                lines.append(f"  <Redirect{attributes([('redirectUrl', f'{self.app_url}/{step.next}')])}/>")
        elif isinstance(step, Transfer):
            lines.append(f"  <Transfer>\n    <PhoneNumber>{escape(step.to)}</PhoneNumber>\n  </Transfer>")
        elif isinstance(step, Hangup):
            lines.append("  <Hangup/>")
        else:  # pragma: no cover - every step kind is above
            lines.append(f"  {comment(f'{step.kind} has no v2 counterpart here')}")
        lines.append("</Response>")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        kind = "keeps behaviour" if self.kept else "naive port"
        changed = sum(d.by_port for _, d in self.differences)
        return (f"FlowMigration({self.flow.name!r}, {kind}: {len(self.flow.steps)} documents, "
                f"{len(self.gathers)} gathers, {changed} behaviours changed by the port, "
                f"{len(self.differences) - changed} v2 cannot keep)")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(step)}</td><td>{html.escape(d.behaviour)}</td><td>{html.escape(d.v1)}</td>"
            f"<td>{html.escape(d.v2)}</td><td>{html.escape(d.instead)}</td></tr>"
            for step, d in self.differences
        )
        docs = "".join(
            f"<details><summary>{html.escape(name)}</summary><pre>{html.escape(text)}</pre></details>"
            for name, text in self.bxml.items())
        return (f"<div><b>{html.escape(repr(self))}</b>{docs}<table><tr><th>step</th><th>behaviour</th>"
                f"<th>v1</th><th>v2</th><th>what to do</th></tr>{rows}</table></div>")


def flow(flow: Flow, *, naive: bool = False, app_url: str = APP_URL) -> FlowMigration:
    """Port a whole flow to v2: each Ask's gather by :func:`~catapult_nb.gather_port.gather` (the port that
    keeps behaviour; ``naive=True``: by :func:`~catapult_nb.gather_port.naive`), and its BXML app.

    :param flow: a :class:`~catapult_nb.flows.Flow`.
    :param app_url: where the v2 app answers (each step's handler at ``{app_url}/{step}``).
    :raises TypeError: ``flow`` is not a Flow.
    """
    # a Flow by its shape: flow.py imports this module (Flow.to_bxml), so this one does not import it
    if not isinstance(getattr(flow, "steps", None), dict) or not hasattr(flow, "start"):
        raise TypeError(f"migrate.flow takes a Flow, got {type(flow).__name__}; for one gather use "
                        "migrate.gather(options)")
    return FlowMigration(flow, kept=not naive, app_url=app_url)
