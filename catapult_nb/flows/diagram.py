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


def _node(name: str, step: Step) -> str:
    nid = node_id(name)
    if isinstance(step, Ask):
        body = f"ask: {_short(step.sentence)}" if step.sentence else "ask for keys"
        return f'{nid}["<b>{_escape(name)}</b><br/>{_escape(body)}"]'
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
    flow: Flow, *, current: str | None = None, counts: Mapping[tuple[str, str | None, str], int] | None = None
) -> str:
    """The flow as Mermaid ``flowchart TD`` text.

    :param current: a step to highlight (the FlowPlayer's current step).
    :param counts: ``{(source, target, kind): n}`` written on the edges (how often each was taken).
    :returns: the Mermaid source.
    """
    lines = ["flowchart TD", '    start_(("start"))', "    hangup_((\"hang up\"))"]
    lines += [f"    {_node(name, step)}" for name, step in flow.steps.items()]
    lines.append(f"    start_ --> {node_id(flow.start)}")
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
    for (source, arrow, target), labels in merged.items():
        text = f'|"{_escape(" / ".join(labels))}"|' if labels else ""
        lines.append(f"    {source} {arrow}{text} {target}")
    lines.append("    classDef current fill:#ffe082,stroke:#f57f17,stroke-width:3px")
    lines.append("    classDef ends fill:#eceff1,stroke:#90a4ae")
    lines.append("    class start_,hangup_ ends")
    if current is not None and current in flow.steps:
        lines.append(f"    class {node_id(current)} current")
    return "\n".join(lines) + "\n"
