"""Small pieces of HTML and CSS naming that several widgets share."""

from __future__ import annotations

import html
from typing import Any

#: Long messages (a URL, a connection error) wrap inside the widget's column instead of running past it.
_WRAP = "white-space:normal;overflow-wrap:anywhere"


def error_html(message: str, title: str | None = None) -> str:
    """A message in the error colour, escaped; ``title`` in bold before it."""
    head = f"<b>{html.escape(title)}</b>: " if title else ""
    return f"<span style='color:#cf222e;{_WRAP}'>{head}{html.escape(message)}</span>"


#: What every widget says, in one line, when its session has been closed.
CLOSED = "this session is closed (session.close() ran): open a new session and make the widget again"


def closed_message(session: Any) -> str | None:
    """:data:`CLOSED` when ``session`` is closed, else None."""
    return CLOSED if getattr(session, "closed", False) else None


def action_error(session: Any, exc: BaseException, title: str | None = None) -> str:
    """A failed click in one line: the closed session when that is the cause, else the error's first line.

    A request to a stopped simulator fails with a long connection error; when the session was closed,
    that error says nothing the user can act on, so the closed session is named instead.
    """
    closed = closed_message(session)
    if closed is not None:
        return error_html(closed)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return error_html(first, title)


def key_class(key: str) -> str:
    """The CSS-safe name of a DTMF key (``*`` → ``star``, ``#`` → ``hash``), for widget classes."""
    return {"*": "star", "#": "hash"}.get(key, key)
