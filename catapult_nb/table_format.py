"""Tables as a notebook shows them: seconds with their unit, rates as percentages, empty columns explained.

``formatted(frame)`` wraps a DataFrame for display without changing it (``.data`` is the frame itself,
numbers intact for further work). Columns are formatted by their names, the way this package names them:

* ``…Rate``, ``…share``: a percentage (``85.9%``);
* ``seconds``, ``estimate``, ``duration``, ``…Duration``, ``median…``, ``…At``, ``timeToFirstKey``: API
  seconds to 0.01 (``2.89 s``);
* ``wpm``: whole words per minute; other floats to 0.01, whole numbers with thousands separators.

A column with no value in any row is left out, and a note under the table says which and why (the reason is
known for the columns this package fills only from some logs, such as ``medianTimeToFirstKey``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = ["WHY_EMPTY", "FormattedTable", "formatted"]

_NO_KEYS = ("the time to the first key needs per-key dtmf events, which only a gather with suppressDtmf "
            "false sends; these sent none")
#: Why a column this package computes can be empty, for the note under a table that leaves it out.
WHY_EMPTY = {
    "medianTimeToFirstKey": _NO_KEYS,
    "timeToFirstKey": _NO_KEYS,
    "wpm": "a file prompt has no words to count",
}
_SECONDS_NAMES = {"seconds", "duration", "timeToFirstKey", "typing", "estimate"}


def _is_seconds(name: str) -> bool:
    return (name in _SECONDS_NAMES or name.endswith(("Duration", "At", "Seconds"))
            or name.startswith("median"))


def _formatter(name: str, column: pd.Series) -> Callable[[Any], str] | None:
    """How one column's values are written, or None to leave them to pandas."""
    def missing(value: Any) -> bool:
        try:
            return bool(pd.isna(value))
        except (TypeError, ValueError):
            return False

    def show(write: Callable[[Any], str]) -> Callable[[Any], str]:
        return lambda value: "—" if missing(value) else write(value)

    if name.endswith(("Rate", "share")) or name.startswith("share"):
        return show(lambda v: f"{float(v):.1%}")
    if _is_seconds(name) and pd.api.types.is_numeric_dtype(column):
        return show(lambda v: f"{float(v):.2f} s")
    if name == "wpm":
        return show(lambda v: f"{float(v):.0f}")
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_integer_dtype(column):
        return show(lambda v: f"{int(v):,}")
    if pd.api.types.is_float_dtype(column):
        return show(lambda v: f"{float(v):,.2f}")
    return show(str) if column.isna().any() else None


class FormattedTable:
    """A DataFrame shown formatted (see the module's docstring); ``data`` is the frame unchanged."""

    def __init__(self, data: pd.DataFrame, why_empty: Mapping[str, str] | None = None) -> None:
        self.data = data
        self._why = {**WHY_EMPTY, **(why_empty or {})}
        self.empty_columns = [str(c) for c in data.columns if len(data) and data[c].isna().all()]
        self.shown = data.drop(columns=self.empty_columns)
        self.formatters = {
            c: f for c in self.shown.columns if (f := _formatter(str(c), self.shown[c])) is not None
        }

    def note(self) -> str:
        """The note under the table: which empty columns were left out, and why when that is known."""
        if not self.empty_columns:
            return ""
        parts = [f"{c} ({self._why[c]})" if c in self._why else c for c in self.empty_columns]
        return "Left out, empty in every row: " + "; ".join(parts) + "."

    def __repr__(self) -> str:
        text = self.shown.to_string(formatters=self.formatters, na_rep="—")
        return text + (f"\n{self.note()}" if self.empty_columns else "")

    def _repr_html_(self) -> str:
        table = self.shown.to_html(formatters=self.formatters, na_rep="—")
        note = self.note()
        note = f"<p class='cnb-table-note'><small>{html.escape(note)}</small></p>" if note else ""
        return f"<div class='cnb-formatted'>{table}{note}</div>"


def formatted(data: pd.DataFrame, why_empty: Mapping[str, str] | None = None) -> FormattedTable:
    """``data`` shown with seconds, rates and counts formatted and its empty columns explained.

    :param data: the table; it is not changed (``formatted(t).data is t``).
    :param why_empty: reasons for empty columns beyond the ones this package knows (:data:`WHY_EMPTY`).
    :returns: a :class:`FormattedTable`, which a notebook displays.
    """
    return FormattedTable(data, why_empty)
