"""How a Mermaid diagram JupyterLab drew is laid out: its edge labels, its nodes, and its scale on the page.

JupyterLab shows Mermaid as an ``<img>`` of SVG, whose inside a page cannot measure. The script copies
each diagram's SVG into the page at its own size, measures the labels and nodes there, and takes the
copy away; ``scale`` is how much the ``<img>`` shrinks (or grows) the drawing on the page.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

#: Mermaid's own font size in a flowchart (its theme's ``fontSize``), in SVG pixels.
MERMAID_FONT_PX = 16

GEOMETRY_JS = """(selector) => Array.from(document.querySelectorAll(selector + ' .jp-RenderedMermaid img'))
  .filter(img => img.src.startsWith('data:image/svg+xml'))
  .map(img => {
    const text = decodeURIComponent(img.src.split(',')[1]);
    const parsed = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
    const svg = document.importNode(parsed, true);
    const width = svg.viewBox.baseVal.width;
    const box = document.createElement('div');
    box.style.cssText = `position:absolute;left:0;top:0;visibility:hidden;width:${width}px`;
    svg.setAttribute('width', width);
    svg.style.maxWidth = 'none';
    box.appendChild(svg);
    document.body.appendChild(box);
    const rect = (el) => { const r = el.getBoundingClientRect();
      return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    const labels = Array.from(svg.querySelectorAll('g.edgeLabel foreignObject'))
      .filter(f => Number(f.getAttribute('width')) > 0)
      .map(f => { const inner = f.querySelector('div');
        return {...rect(f), text: f.textContent.trim(),
                clipped: !!inner && inner.scrollWidth > f.getBoundingClientRect().width + 1}; });
    const nodes = Array.from(svg.querySelectorAll('g.node'))
      .map(n => ({...rect(n), text: n.textContent.trim()}));
    box.remove();
    return {labels, nodes, scale: img.getBoundingClientRect().width / width,
            shownWidth: img.getBoundingClientRect().width};
  })"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> float:
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return width * height if width > 0 and height > 0 else 0.0


def label_problems(diagram: dict[str, Any], *, min_text_px: float = 11.0) -> list[str]:
    """What a person would find wrong with a drawn diagram: labels on labels or on boxes, text cut off,
    text too small to read (Mermaid's 16 px times the page's scale under ``min_text_px``)."""
    problems = []
    for a, b in combinations(diagram["labels"], 2):
        if _overlap(a, b) > 4:
            problems.append(f"label {a['text']!r} overlaps label {b['text']!r}")
    for label in diagram["labels"]:
        if label["clipped"]:
            problems.append(f"label {label['text']!r} is cut off")
        for node in diagram["nodes"]:
            if _overlap(label, node) > 4:
                problems.append(f"label {label['text']!r} covers the box {node['text']!r}")
    shown = MERMAID_FONT_PX * diagram["scale"]
    if shown < min_text_px:
        problems.append(f"text drawn at {shown:.1f} px (the diagram is shrunk to {diagram['scale']:.0%})")
    return problems
