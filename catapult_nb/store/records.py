"""Records as a DataFrame: what ``deliveries`` and ``events`` give everywhere.

A :class:`RecordFrame` is a :class:`pandas.DataFrame`, one row per record (a callback attempt, a payload
sent). Where a list of dicts used to be given, it still answers as that list for a while — iterating
gives each row as a dict, ``frame[0]`` (an int) the first row as a dict, and calling it (the pytest
fixture's old ``events(call_id)``) the list — each time with a :class:`DeprecationWarning` that says how
to write it as a frame. Anything derived from it (a selection, a query) is a plain DataFrame.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd

__all__ = ["DELIVERY_COLUMNS", "RecordFrame", "deliveries_frame", "record_frame"]

#: The columns of a ``deliveries`` frame: one callback attempt per row.
DELIVERY_COLUMNS = ("time", "url", "method", "eventType", "callId", "attempt", "status", "error", "elapsedMs")


class RecordFrame(pd.DataFrame):
    """A DataFrame of records which, for a while, also answers as the list of dicts it used to be.

    :ivar records_of: what the frame is, in words, for the warnings (``"deliveries(call_id)"``).
    """

    _metadata: ClassVar[list[str]] = ["records_of"]
    records_of: str

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)  # type: ignore[call-arg]  # pandas-stubs types __new__ only

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame  # a selection of the frame is an ordinary frame, without the list manners

    def _warn(self, how: str) -> None:
        warnings.warn(
            f"{getattr(self, 'records_of', 'this')} is a DataFrame now, not a list of dicts: {how}",
            DeprecationWarning,
            stacklevel=3,
        )

    def __repr__(self) -> str:  # pandas' own formatting iterates the frame for its columns
        return repr(pd.DataFrame(self))

    def _repr_html_(self) -> str | None:
        # pandas-stubs leave the notebook hook out (an attribute read there is a column), hence Any
        frame: Any = pd.DataFrame(self)
        html: str | None = frame._repr_html_()
        return html

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts, oldest first (missing values are None)."""
        frame = self.astype(object).where(self.notna(), None)
        return [{str(key): value for key, value in row.items()}
                for row in pd.DataFrame(frame).to_dict("records")]

    def __iter__(self) -> Iterator[Any]:
        self._warn("iterate .rows() (or .itertuples()) for the rows")
        return iter(self.rows())

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int) and not isinstance(key, bool) and key not in self.columns:
            self._warn(f"take .rows()[{key}] (or .iloc[{key}]) for one row")
            return self.rows()[key]
        if isinstance(key, slice):  # rows, as for any frame; still iterated as the list's slice was
            part = RecordFrame(super().__getitem__(key))
            part.records_of = getattr(self, "records_of", "this")
            return part
        return super().__getitem__(key)

    def __call__(self, call_id: str | None = None) -> list[dict[str, Any]]:
        self._warn("filter it (.query('callId == @call_id')) or take .rows() for the dicts")
        rows = self.rows()
        return rows if call_id is None else [row for row in rows if row.get("callId") == call_id]


def record_frame(
    records: Sequence[Mapping[str, Any]], columns: Sequence[str], *, records_of: str
) -> RecordFrame:
    """``records`` as a :class:`RecordFrame` with at least ``columns`` (in that order; any other key of a
    record follows), so an empty one still has its columns.

    :param records_of: what the frame is, in words, for the warnings of its list manners.
    """
    extra = [key for record in records for key in record if key not in columns]
    frame = RecordFrame([dict(record) for record in records], columns=[*columns, *dict.fromkeys(extra)])
    frame.records_of = records_of
    return frame


def deliveries_frame(
    records: Sequence[Mapping[str, Any]], *, records_of: str = "deliveries()"
) -> RecordFrame:
    """The simulator's callback attempts as a :class:`RecordFrame` with :data:`DELIVERY_COLUMNS`
    (``attempt`` and ``status`` whole numbers, ``status`` missing where no answer came)."""
    frame = record_frame(records, DELIVERY_COLUMNS, records_of=records_of)
    frame[["attempt", "status"]] = frame[["attempt", "status"]].astype("Int64")
    return frame
