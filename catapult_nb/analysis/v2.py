"""Voice API v2 gathers as rows of :func:`catapult_nb.analysis.gather_table`, beside v1's (docs/v2.md).

A v2 ``gather`` webhook has no ``gatherId``, no ``reason`` and no create request, so its row is built
from what there is:

* **key**: the gather's name in the gathers table when the BXML that started it is in the data
  (``EventStore.record_bxml`` or an imported HAR records it as ``{callId}@{served time}``), else
  ``{callId}@{eventTime}`` of its webhook.
* **options**: those of the ``<Gather>`` in the BXML the app served for the call most recently at or
  before the webhook (each served ``<Gather>`` answers one webhook); without it the ``optionSet`` says
  :data:`~catapult_nb.analysis.UNKNOWN_OPTIONS`.
* **reason**: v1's reason read back by :func:`catapult_nb.gather_port.v1_reason` (``migrate.v1_reason``)
  with the gather's ``maxDigits`` (v2's default 50 when the options are unknown), and ``reasonDerived``
  true. A served ``<Gather>`` with a ``gatherUrl`` that got no webhook before the call's ``disconnect``
  ended with the hang-up: reason ``hung-up``, ``completedTime`` the disconnect's, no digits (v2 sends
  none). A ``<Gather>`` without ``gatherUrl`` never reports, so it stays unfinished.

A :class:`~catapult_nb.store.parquet.ParquetEvents` folder gets the same rows in DuckDB
(:mod:`catapult_nb.analysis.sql_v2`), with the reason and what an option set decides read by the
functions here.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from catapult_nb.engine import DIALECTS, V2_GATHER_ATTRIBUTES, GatherSpec
from catapult_nb.gather_port import v1_reason

__all__ = ["describe_v2", "has_gather_url", "hung_up_reason", "is_v2_options", "max_digits_of", "reason_of",
           "split_requests", "v2_gathers", "with_v2"]

_UTC = pd.DatetimeTZDtype("us", "UTC")
_DEFAULT_MAX = DIALECTS["v2"].max_digits


def is_v2_options(options: Any) -> bool:
    """True for the options of a v2 gather recorded from BXML (they carry ``"dialect": "v2"``)."""
    return isinstance(options, dict) and options.get("dialect") == "v2"


def has_gather_url(options: Any) -> bool:
    """True for a served v2 ``<Gather>`` that reports to a ``gatherUrl`` (one without never reports)."""
    return is_v2_options(options) and bool(options.get("gatherUrl"))


def split_requests(gathers: pd.DataFrame | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The gathers table split into v1's create requests and v2's served ``<Gather>`` verbs."""
    if gathers is None or "options" not in gathers.columns:
        return gathers, None
    v2 = np.fromiter((is_v2_options(item) for item in gathers["options"]), dtype=bool, count=len(gathers))
    if not v2.any():
        return gathers, None
    return gathers.loc[~v2], gathers.loc[v2]


def describe_v2(options: dict[str, Any]) -> str:
    """A short label of a v2 ``<Gather>``'s options: ``v2 maxDigits=5 terminatingDigits='#' …``."""
    parts = [f"{name}={options[name]!r}" if isinstance(options[name], str) else f"{name}={options[name]:g}"
             for name in V2_GATHER_ATTRIBUTES if name in options]
    prompt = options.get("prompt")
    if isinstance(prompt, dict):
        parts += [f"prompt.{name}={value!r}" for name, value in prompt.items()]
    return " ".join(["v2", *parts]) if parts else "v2 defaults"


def with_v2(table: pd.DataFrame, events: pd.DataFrame, served: pd.DataFrame | None, option_columns: list[str],
            unknown: str | None) -> pd.DataFrame:
    """v1's gathers (``table``) with the v2 gathers of ``events`` below them, and the columns ``dialect``
    and ``reasonDerived``.

    :param served: the gathers table's v2 rows (:func:`split_requests`).
    :param unknown: the ``optionSet`` of a v2 gather whose BXML is not in the data; None: the table has
        no options (no gathers table was given).
    """
    table = table.assign(dialect="v1", reasonDerived=False)
    v2 = v2_gathers(events, served, option_columns)
    if len(v2):
        if unknown is None:
            v2 = v2.drop(columns=["options", "optionSet"])
        else:
            v2["optionSet"] = v2["optionSet"].fillna(unknown)
        table = pd.concat([table, v2.assign(dialect="v2")])
        table.index = table.index.astype(str)  # one index type, v1's, whichever dialects are in it
        for column in ("callId", "tag"):  # as v1's: Python strings, None when missing
            values = table[column].astype(object)
            table[column] = values.where(values.notna(), None)
    table["dialect"] = pd.Categorical(table["dialect"], categories=["v1", "v2"])
    table["reasonDerived"] = table["reasonDerived"].astype(bool)
    return table


def v2_gathers(
    events: pd.DataFrame, requests: pd.DataFrame | None, option_columns: list[str]
) -> pd.DataFrame:
    """The v2 gathers of ``events`` (and of the served ``<Gather>`` verbs in ``requests``), one row each,
    indexed by their key, with the columns ``gather_table`` builds on (see the module docstring).

    :param option_columns: the typed option columns to carry from ``requests``.
    """
    if "dialect" not in events.columns:
        return _empty()
    v2 = events["dialect"].astype("string") == "v2"
    kinds = events["eventType"].astype("string")
    hooks = events.loc[v2 & (kinds == "gather")]
    served = _served(requests)
    if hooks.empty and served.empty:
        return _empty()
    hooks = pd.DataFrame({
        "callId": hooks["callId"].astype("string"),
        "time": _utc(hooks["time"]),
        "digits": hooks["digits"].astype("string"),
        "terminatingDigit": _column(hooks, "terminatingDigit"),
        "tag": _column(hooks, "tag"),
    }).dropna(subset=["callId", "time"]).sort_values("time", kind="stable").reset_index(drop=True)
    done = _match(hooks, served).set_index("key")
    hung = _hung_up(events.loc[v2 & (kinds == "disconnect")], served, set(done["gatherId"].dropna()))
    table = pd.concat([done, hung]) if len(hung) else done
    open_ = served.loc[~served.index.isin(table["gatherId"].dropna())]
    if len(open_):  # served, not (yet) reported
        waiting = {"callId": open_["callId"], "createdTime": open_["createdTime"], "gatherId": open_.index}
        table = pd.concat([table, pd.DataFrame(waiting, index=open_.index)])
    keys = table["gatherId"].astype(object)  # mapped as objects: an Arrow string map makes dicts structs
    options = keys.map(dict(zip(served.index, served["options"], strict=True)))
    table["options"] = options
    table["reason"] = _reasons(table)
    table["tag"] = table["tag"].fillna(options.map(lambda o: o.get("tag") if isinstance(o, dict) else None))
    table["optionSet"] = pd.array([describe_v2(o) if isinstance(o, dict) else pd.NA for o in options],
                                  dtype="string")
    for column in option_columns:
        if requests is not None and column in requests.columns:
            table[column] = keys.map(served[column]).astype(requests[column].dtype)
    table.index.name = "gatherId"
    table["reasonDerived"] = True
    return table.drop(columns=["gatherId", "terminatingDigit", "time", "hungUp"], errors="ignore")


def _served(requests: pd.DataFrame | None) -> pd.DataFrame:
    if requests is None or requests.empty:
        return pd.DataFrame({"callId": pd.Series(dtype="string"), "createdTime": pd.Series(dtype=_UTC),
                             "options": pd.Series(dtype=object)}, index=pd.Index([], name="gatherId"))
    served = requests.drop_duplicates("gatherId").set_index("gatherId")
    served = served.assign(callId=served["callId"].astype("string"), createdTime=_utc(served["createdTime"]))
    return served.dropna(subset=["callId", "createdTime"])


def _match(hooks: pd.DataFrame, served: pd.DataFrame) -> pd.DataFrame:
    """Each webhook with the latest ``<Gather>`` served for its call at or before it (a ``<Gather>``
    answers one webhook: later ones whose document is not in the data stay unmatched)."""
    if served.empty or hooks.empty:
        found = hooks.assign(gatherId=pd.Series(pd.NA, index=hooks.index, dtype="string"),
                             createdTime=pd.Series(pd.NaT, index=hooks.index, dtype=_UTC))
    else:
        right = served.reset_index()[["gatherId", "callId", "createdTime"]].sort_values("createdTime")
        found = pd.merge_asof(hooks.assign(callId=hooks["callId"].astype(object)),
                              right.assign(callId=right["callId"].astype(object)),
                              left_on="time", right_on="createdTime", by="callId", direction="backward")
        again = found["gatherId"].notna() & found["gatherId"].duplicated()
        found.loc[again, "gatherId"] = pd.NA
        found.loc[again, "createdTime"] = pd.NaT
    keys = found["callId"].astype(str) + "@" + _iso(found["time"])
    found["key"] = found["gatherId"].astype("string").fillna(keys)
    found["completedTime"] = found["time"]
    return found


def _hung_up(disconnects: pd.DataFrame, served: pd.DataFrame, reported: set[Any]) -> pd.DataFrame:
    """Served ``<Gather>`` verbs with a ``gatherUrl`` and no webhook, ended by their call's disconnect
    before another document was served for the call."""
    waiting = served.loc[~served.index.isin(reported)]
    waiting = waiting.loc[[has_gather_url(o) for o in waiting["options"]]]
    if waiting.empty or disconnects.empty:
        return pd.DataFrame()
    ends = pd.DataFrame({"callId": disconnects["callId"].astype(str), "endTime": _utc(disconnects["time"])})
    ends = ends.dropna().sort_values("endTime")
    later = served.sort_values("createdTime").groupby("callId", observed=True)["createdTime"].shift(-1)
    left = waiting.assign(nextServed=later.reindex(waiting.index)).reset_index()
    left["callId"] = left["callId"].astype(str)
    found = pd.merge_asof(left.sort_values("createdTime"), ends, left_on="createdTime", right_on="endTime",
                          by="callId", direction="forward")
    ended = found["endTime"].notna() & ~(found["nextServed"] <= found["endTime"])
    found = found.loc[ended]
    return pd.DataFrame({
        "callId": found["callId"].astype("string").to_numpy(),
        "completedTime": found["endTime"].array,
        "createdTime": found["createdTime"].array,
        "gatherId": found["gatherId"].to_numpy(),
        "hungUp": True,
    }, index=pd.Index(found["gatherId"].to_numpy(), name="key"))


def _reasons(table: pd.DataFrame) -> pd.Series:
    """``v1_reason`` of each row, asked once per distinct (digit count, terminating key, maxDigits)."""
    hung = table["hungUp"].eq(True) if "hungUp" in table.columns else False
    reported = table["completedTime"].notna() & ~hung
    digits = table["digits"].astype("string")
    ended_by = table["terminatingDigit"].astype("string").fillna("") if "terminatingDigit" in table else ""
    limits = table["options"].map(max_digits_of)
    keys = pd.DataFrame({"n": digits.str.len().fillna(0).astype(int), "by": ended_by, "max": limits})
    out = pd.Series(pd.NA, index=table.index, dtype="string")
    for key, rows in keys.loc[reported].groupby(["n", "by", "max"]).groups.items():
        out.loc[rows] = reason_of(*cast("tuple[int, str, int]", key))
    if isinstance(hung, pd.Series) and hung.any():
        out.loc[hung] = hung_up_reason()
    return out


def reason_of(digit_count: int, ended_by: str, max_digits: int) -> str:
    """v1's reason for a v2 gather webhook with ``digit_count`` digits, ended by the key ``ended_by``
    (empty: none), of a ``<Gather>`` with this ``maxDigits``: :func:`~catapult_nb.gather_port.v1_reason`."""
    webhook = {"eventType": "gather", "digits": "0" * digit_count, "terminatingDigit": ended_by}
    return v1_reason(webhook, GatherSpec.v2(max_digits=max_digits)).value


def hung_up_reason() -> str:
    """v1's reason for a v2 gather ended by its call's disconnect
    (:func:`~catapult_nb.gather_port.v1_reason`)."""
    return v1_reason({"eventType": "disconnect"}).value


def max_digits_of(options: Any) -> int:
    """The ``<Gather>``'s maxDigits (v2's default 50 when unknown or unreadable)."""
    if not isinstance(options, dict):
        return _DEFAULT_MAX
    try:
        return GatherSpec.from_bxml({k: options[k] for k in ("maxDigits",) if k in options}).max_digits
    except ValueError:
        return _DEFAULT_MAX


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype("string")
    return pd.Series([p.get(name) if hasattr(p, "get") else None for p in frame["payload"]],
                     index=frame.index, dtype="string") if "payload" in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="string")


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype(_UTC)


def _iso(times: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(times, utc=True)
    millis = (stamps.dt.microsecond // 1000).astype(str).str.zfill(3)
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z"

