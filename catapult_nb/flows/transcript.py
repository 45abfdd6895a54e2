"""A flow run's transcript: a DataFrame that displays as the conversation it records."""

from __future__ import annotations

import html
from typing import Any, ClassVar

import pandas as pd

__all__ = ["TRANSCRIPT_COLUMNS", "Transcript", "conversation_html"]

#: One row per action: when (API seconds from the run's first event), at which step, what happened.
TRANSCRIPT_COLUMNS = ("time", "step", "action", "detail", "reason", "digits")

#: A speaker drawn inline (Material Design's volume_up, Apache-2.0): not every system font has 🔊.
_SPEAKER = (
    "<svg role='img' aria-label='🔊' width='14' height='14' viewBox='0 0 24 24' "
    "style='vertical-align:-2px'><path fill='currentColor' d='M3 9v6h4l5 5V4L7 9H3zm13.5 3c0-1.77-1.02-"
    "3.29-2.5-4.03v8.05c1.48-.73 2.5-2.25 2.5-4.02zM14 3.23v2.06c2.89.86 5 3.54 5 6.71s-2.11 5.85-5 "
    "6.71v2.06c4.01-.91 7-4.49 7-8.77s-2.99-7.86-7-8.77z'/></svg>"
)
_ICONS = {"ask": _SPEAKER, "say": _SPEAKER, "play": "♪", "transfer": "☎", "hangup": "☎"}


class Transcript(pd.DataFrame):
    """The rows of :data:`TRANSCRIPT_COLUMNS`. Any operation on it gives a plain DataFrame; displayed
    in a notebook it reads like a conversation (🔊 the prompt, ⌨ the keys with their times, → the
    next step)."""

    _metadata: ClassVar[list[str]] = ["title"]

    def __init__(self, data: Any = None, *args: Any, title: str = "", **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)  # type: ignore[call-arg]  # pandas-stubs types __new__ only
        self.title = title

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def _repr_html_(self) -> str:
        return conversation_html(self, self.title)


def _at(seconds: Any) -> str:
    return "" if seconds is None or pd.isna(seconds) else f"{seconds:.2f} s"


def conversation_html(frame: pd.DataFrame, title: str = "") -> str:
    """The transcript as a conversation: one block per step visit, keys grouped on one line."""
    lines: list[str] = []
    keys: list[str] = []

    def flush_keys() -> None:
        if keys:
            lines.append(f"<div class='cnb-keys'>⌨ {' '.join(keys)}</div>")
            keys.clear()

    for row in frame.itertuples(index=False):
        esc = html.escape
        when = f"<small style='color:#888'>{_at(row.time)}</small>"
        if row.action == "key":
            keys.append(f"<b>{esc(str(row.digits))}</b><small style='color:#888'>@{_at(row.time)}</small>")
            continue
        flush_keys()
        if row.action in ("ask", "say", "play"):
            lines.append(
                f"<div style='margin-top:6px'><code>{esc(str(row.step))}</code> {when}<br>"
                f"{_ICONS[str(row.action)]} <i>{esc(str(row.detail))}</i></div>"
            )
        elif row.action == "gathered":
            shown = esc(repr(str(row.digits)))
            lines.append(f"<div class='cnb-gathered'>↳ {esc(str(row.reason))}, digits {shown} {when}</div>")
        elif row.action == "route":
            reason = f" <small>({esc(str(row.reason))})</small>" if row.reason else ""
            lines.append(f"<div class='cnb-route'>{esc(str(row.detail))}{reason}</div>")
        elif row.action in ("transfer", "hangup"):
            text = f"transfer to {row.detail}" if row.action == "transfer" else "hang up"
            lines.append(f"<div>{_ICONS[str(row.action)]} {esc(text)} {when}</div>")
        elif row.action == "end":
            lines.append(
                f"<div style='margin-top:6px'><b>■ {esc(str(row.detail))}</b> "
                f"<small>{esc(str(row.reason))}</small> {when}</div>"
            )
    flush_keys()
    titled = f" <small>{html.escape(title)}</small>" if title else ""
    head = f"<div><b>Flow transcript</b>{titled}</div>"
    body = "".join(lines) or "<div><i>nothing yet</i></div>"  # its own line: not "Flow transcriptnothing yet"
    return f"<div class='cnb-transcript' style='font-family:sans-serif'>{head}{body}</div>"
