"""CallHistory: every call of the session, one line each, as a phone's call log lists them."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from catapult_nb.widgets._kernel import Coalescer

if TYPE_CHECKING:
    from catapult_nb.session import Session

__all__ = ["HISTORY_COLUMNS", "CallHistory", "call_history"]

#: The call log's columns: who, when, how long (API seconds, answer to hang-up), what was typed, how it ended.
HISTORY_COLUMNS = ("callId", "from", "to", "started", "answered", "seconds", "gathers", "digits", "ended")


def call_history(events: pd.DataFrame) -> pd.DataFrame:
    """One row per call of an events frame (``session.events``), newest first.

    :param events: the store's events, with ``time``, ``eventType``, ``callId``, ``from``, ``to``,
        ``digits`` and ``cause``.
    :returns: :data:`HISTORY_COLUMNS`: ``answered`` says whether an ``answer`` event came, ``seconds``
        is from the answer to the end (None while the call goes on), ``digits`` the gathers' digits in
        order (``12345 · 1``), ``ended`` the hang-up's cause, or ``timeout``, or ``in progress``.
    """
    rows = []
    for call_id, part in events.dropna(subset=["callId"]).groupby("callId", sort=False):
        kinds = part["eventType"].astype(str)
        answered = part.loc[kinds == "answer", "time"]
        end = part.loc[kinds.isin(["hangup", "timeout"])]
        gathers = part.loc[kinds == "gather"]
        if len(end):
            last = end.iloc[-1]
            hangup = str(last["eventType"]) == "hangup" and pd.notna(last["cause"])
            ended: Any = str(last["cause"]) if hangup else "timeout"
        else:
            ended = "in progress"
        seconds = ((end["time"].iloc[-1] - answered.iloc[0]).total_seconds()
                   if len(end) and len(answered) else None)
        rows.append({
            "callId": call_id,
            "from": _first(part["from"]), "to": _first(part["to"]),
            "started": part["time"].min(),
            "answered": bool(len(answered)),
            "seconds": seconds,
            "gathers": len(gathers),
            "digits": " · ".join(str(d) for d in gathers["digits"].fillna("")),
            "ended": ended,
        })
    frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return frame.sort_values("started", ascending=False, ignore_index=True)


def _first(column: pd.Series) -> str:
    values = column.dropna()
    return str(values.iloc[0]) if len(values) else ""


class CallHistory(w.VBox):
    """The session's calls, newest first, kept up to date as events arrive (:func:`call_history`)."""

    def __init__(self, session: Session, max_rows: int = 20):
        self.session = session
        self.max_rows = max_rows
        self.table = w.HTML()
        self.table.add_class("cnb-history-table")
        self._refresh_soon = Coalescer(self.refresh)
        session.store.add_listener(self._on_event)
        super().__init__([self.table])
        self.add_class("cnb-call-history")
        self.refresh()

    @property
    def data(self) -> pd.DataFrame:
        """The call log as a DataFrame (:func:`call_history` of the session's events)."""
        return call_history(self.session.events)

    def refresh(self) -> None:
        frame = self.data.head(self.max_rows)
        if not len(frame):
            self.table.value = "<i>no calls yet</i>"
            return
        head = "".join(f"<th>{html.escape(c)}</th>" for c in HISTORY_COLUMNS)
        body = "".join(
            f"<tr data-call-id='{html.escape(str(row['callId']))}'>"
            + "".join(_td(column, row[column]) for column in HISTORY_COLUMNS)
            + "</tr>"
            for row in frame.to_dict("records")
        )
        self.table.value = (
            "<style>.cnb-history th, .cnb-history td {padding: 1px 8px; text-align: left}</style>"
            f"<table class='cnb-history' style='border-collapse:collapse;font-size:12px'><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>"
        )

    def _on_event(self, _row: Any) -> None:
        self._refresh_soon()

    def close(self) -> None:
        self.session.store.remove_listener(self._on_event)
        super().close()


def _td(column: str, value: Any) -> str:
    text = html.escape(_cell(column, value))
    return f"<td><code>{text}</code></td>" if column == "digits" and text else f"<td>{text}</td>"


def _cell(column: str, value: Any) -> str:
    if value is None or (not isinstance(value, (str, bool)) and pd.isna(value)):
        return "—"
    if column == "started":
        return str(value.strftime("%H:%M:%S"))
    if column == "seconds":
        return f"{value:.1f} s"
    if column == "answered":
        return "yes" if value else "no"
    return str(value)
