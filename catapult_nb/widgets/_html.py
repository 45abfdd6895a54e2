"""Small pieces of HTML and CSS naming that several widgets share."""

from __future__ import annotations

import html


def error_html(message: str, title: str | None = None) -> str:
    """A message in the error colour, escaped; ``title`` in bold before it."""
    head = f"<b>{html.escape(title)}</b>: " if title else ""
    return f"<span style='color:#cf222e'>{head}{html.escape(message)}</span>"


def key_class(key: str) -> str:
    """The CSS-safe name of a DTMF key (``*`` → ``star``, ``#`` → ``hash``), for widget classes."""
    return {"*": "star", "#": "hash"}.get(key, key)
