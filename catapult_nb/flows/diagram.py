"""A flow as a Mermaid flowchart (JupyterLab ≥ 4.1 and Notebook 7 draw ``text/vnd.mermaid``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Step, Transfer

if TYPE_CHECKING:
    from catapult_nb.flows.flow import Flow

__all__ = ["MERMAID_MIMETYPE", "node_id", "to_mermaid"]

MERMAID_MIMETYPE = "text/vnd.mermaid"
_LABEL_LIMIT = 48
_ARROWS = {"route": "-->", "next": "-->", "invalid": "-.->", "no_input": "-.->", "exhausted": "-.->"}


def node_id(name: str) -> str:
    """The Mermaid id of a step (prefixed, so a step called ``end`` cannot clash with a keyword)."""
    return f"s_{name}"


def _escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"


#: A little more room between boxes and rows where edges carry counts, whose labels are wider.
_COUNTED_SPACING = '%%{init: {"flowchart": {"nodeSpacing": 60, "rankSpacing": 60}}}%%'
#: Side by side, tighter than Mermaid's default: each diagram has half the width to fit in.
_COMPACT_SPACING = '%%{init: {"flowchart": {"nodeSpacing": 40, "rankSpacing": 50, "diagramPadding": 4}}}%%'
_COMPACT_KINDS = {Ask: "ask", Say: "say", Play: "♪ play", Transfer: "☎ transfer", Hangup: "hang up"}


def _compact_node(name: str, step: Step, extra: str = "") -> str:
    """A box with the step's name and kind only: narrow enough for two diagrams side by side."""
    nid, kind = node_id(name), _COMPACT_KINDS.get(type(step), "")
    text = f"<b>{_escape(name)}</b>" + (f"<br/>{_escape(kind)}" if kind else "") + extra
    if isinstance(step, Transfer):
        return f'{nid}[/"{text}"/]'
    if isinstance(step, Hangup):
        return f'{nid}(("{text}"))'
    if isinstance(step, (Say, Play)):
        return f'{nid}(["{text}"])'
    return f'{nid}["{text}"]'


def _node(name: str, step: Step, extra: str = "") -> str:
    nid = node_id(name)
    if isinstance(step, Ask):
        body = f"ask: {_short(step.sentence)}" if step.sentence else "ask for keys"
        return f'{nid}["<b>{_escape(name)}</b><br/>{_escape(body)}{extra}"]'
    if isinstance(step, Say):
        return f'{nid}(["<b>{_escape(name)}</b><br/>say: {_escape(_short(step.sentence))}"])'
    if isinstance(step, Play):
        return f'{nid}(["<b>{_escape(name)}</b><br/>♪ {_escape(_short(step.file_url))}"])'
    if isinstance(step, Transfer):
        return f'{nid}[/"<b>{_escape(name)}</b><br/>☎ transfer to {_escape(step.to)}"/]'
    if isinstance(step, Hangup):
        return f'{nid}(("<b>{_escape(name)}</b><br/>hang up"))'
    return f'{nid}["{_escape(name)}"]'


def to_mermaid(
    flow: Flow, *, current: str | None = None,
    counts: Mapping[tuple[str, str | None, str], int] | None = None, compact: bool = False,
) -> str:
    """The flow as Mermaid ``flowchart TD`` text.

    :param current: a step to highlight (the FlowPlayer's current step).
    :param counts: ``{(source, target, kind): n}`` written on the edges (how often each was taken); a
        step's way back to itself is then counted inside its box (``↻ invalid ×12``), not beside its loop.
    :param compact: boxes with the step's name and kind only, not what it says (for diagrams side by side).
    :returns: the Mermaid source.
    """
    # edges with the same ends and style are drawn once, their labels joined ("invalid / no input")
    merged: dict[tuple[str, str, str], list[str]] = {}
    for edge in flow.edges():
        target = node_id(edge.target) if edge.target is not None else "hangup_"
        label = edge.label
        if counts is not None:
            n = counts.get((edge.source, edge.target, edge.kind), 0)
            label = f"{label} ×{n}" if label else f"×{n}"
        labels = merged.setdefault((node_id(edge.source), _ARROWS.get(edge.kind, "-->"), target), [])
        if label:
            labels.append(label)
    # Counted, a step's way back to itself (asked again) is written in its box, one line a reason: as a
    # label beside the loop it landed on the next edge's label and box.
    again: dict[str, str] = {}
    if counts is not None:
        for (source, _arrow, target), labels in merged.items():
            if source == target and labels:
                again[source] = "".join(f"<br/>↻ {_escape(label)}" for label in labels)
                labels.clear()
    head = [_COMPACT_SPACING if compact else _COUNTED_SPACING] if counts is not None else []
    lines = [*head, "flowchart TD", '    start_(("start"))', "    hangup_((\"hang up\"))"]
    draw = _compact_node if compact else _node
    lines += [f"    {draw(name, step, again.get(node_id(name), ''))}" for name, step in flow.steps.items()]
    lines.append(f"    start_ --> {node_id(flow.start)}")
    for (source, arrow, target), labels in merged.items():
        text = f'|"{_escape(" / ".join(labels))}"|' if labels else ""
        lines.append(f"    {source} {arrow}{text} {target}")
    lines.append("    classDef current fill:#ffe082,stroke:#f57f17,stroke-width:3px")
    lines.append("    classDef ends fill:#eceff1,stroke:#90a4ae")
    lines.append("    class start_,hangup_ ends")
    if current is not None and current in flow.steps:
        lines.append(f"    class {node_id(current)} current")
    return "\n".join(lines) + "\n"
