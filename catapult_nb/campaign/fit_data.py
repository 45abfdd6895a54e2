"""What a caller fit reads from a log: finished gathers grouped by option set, and the cells they fall in.

A production log holds, per gather, its options, when it was created and ended, its reason and its
digits. :func:`read_groups` turns a store, a session, a campaign, a frame (events or a gather table) or
anything with ``to_dataframe()`` and ``gathers()`` into :class:`OptionSetData`: one per option set, with
the outcomes counted in *cells* — reason × digit count × a band of durations (bands at the observed
quantiles). The fit compares these counts with the cells of simulated callers. See ``docs/fitting.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from catapult_nb import analysis, prompts
from catapult_nb.campaign.results import CampaignResult
from catapult_nb.engine import GatherSpec
from catapult_nb.options import GatherOptions, OptionError, nest_wire

__all__ = ["MIN_GATHERS", "OptionSetData", "gather_frame", "read_groups"]

#: Fewer finished gathers than this per group is too few to say anything about callers.
MIN_GATHERS = 50
#: A duration band holds at least this many observed gathers; at most MAX_BANDS bands per outcome.
MIN_PER_BAND = 150
MAX_BANDS = 10
#: Durations of one outcome that spread less than this (API seconds) are one point (e.g. a time-out
#: without any key always ends at prompt + timeout): no bands, the log's clock rounding would split them.
POINT_SPREAD = 0.05
#: The spread (API seconds) of the kernel that shares a duration among neighbouring bands.
KERNEL_SD = 0.15
#: The narrowest duration band: a kernel's reach beyond the neighbouring bands is then negligible.
MIN_BAND = 2.5 * KERNEL_SD
_KERNEL_SCALE = KERNEL_SD * 3**0.5 / np.pi  # the logistic distribution's scale for that spread
_NEEDED = ("maxDigits", "interDigitTimeout", "terminatingDigits")


@dataclass
class OptionSetData:
    """The finished gathers of one option set, counted in cells."""

    label: str
    options: GatherOptions
    spec: GatherSpec  # with the prompt's length as the fit times it
    reasons: np.ndarray  # int, index into analysis.REASONS
    digit_counts: np.ndarray  # int
    durations: np.ndarray | None  # API seconds; None when the log has no creation times
    width: int = 0  # digit counts are capped at width - 1 in the cells
    groups: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)  # group -> (first cell, edges)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # observed count per cell
    names: list[tuple[str, int, str]] = field(default_factory=list)  # per cell: reason, digits, band

    @property
    def n(self) -> int:
        return len(self.reasons)

    @property
    def elsewhere(self) -> int:
        """The last cell: outcomes the log never showed (observed count 0)."""
        return len(self.counts) - 1

    def build_cells(self, width: int) -> None:
        """Cells from the observed outcomes: a band of durations per reason and digit count."""
        self.width = width
        group = self.reasons * width + np.minimum(self.digit_counts, width - 1)
        names: list[tuple[str, int, str]] = []
        for gid in np.unique(group).tolist():
            members = group == gid
            edges = np.empty(0)
            if self.durations is not None:
                values = self.durations[members]
                bands = min(MAX_BANDS, len(values) // MIN_PER_BAND)
                if bands >= 2 and np.ptp(values) > POINT_SPREAD:
                    edges = _spaced(np.quantile(values, np.arange(1, bands) / bands))
            self.groups[gid] = (len(names), edges)
            reason, digits = analysis.REASONS[gid // width], gid % width
            bounds = [-np.inf, *edges.tolist(), np.inf]
            names.extend((reason, digits, _band(low, high)) for low, high in itertools.pairwise(bounds))
        names.append(("elsewhere", -1, "outcomes never seen in the log"))
        self.names = names
        _, cells, weights = self.soft_cells(self.reasons, self.digit_counts, self.durations)
        self.counts = np.bincount(cells, weights, minlength=len(names))

    def soft_cells(self, reasons: np.ndarray, digit_counts: np.ndarray, durations: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each outcome's share of each cell: whole for reason and digit count, spread over the duration
        bands by a smooth kernel (:data:`KERNEL_SD` seconds), so that a simulated share changes smoothly
        with the callers' timing. The log's own gathers are counted the same way.

        :returns: outcome row, cell and weight of each share (an outcome the log never showed goes whole
            to the last cell).
        """
        group = reasons.astype(np.int64) * self.width + np.minimum(digit_counts, self.width - 1)
        rows, cells, weights = [], [], []
        placed = np.zeros(len(group), dtype=bool)
        for gid, (first, edges) in self.groups.items():
            members = np.flatnonzero(group == gid)
            placed[members] = True
            if not len(edges) or durations is None:
                rows.append(members)
                cells.append(np.full(len(members), first))
                weights.append(np.ones(len(members)))
                continue
            # the band a duration falls in and its two neighbours share it (the kernel's reach beyond is
            # under 2 %: bands are wider than two kernel spreads, see MIN_BAND)
            values = durations[members]
            band = np.searchsorted(edges, values, side="left")
            padded = np.concatenate([[-np.inf, -np.inf], edges, [np.inf, np.inf]])
            at = band[:, None] + np.arange(4)[None, :]  # edges below and above the band and its neighbours
            below = _logistic((padded[at] - values[:, None]) / _KERNEL_SCALE)
            share = np.diff(below, axis=1)  # (members, 3): band-1, band, band+1
            share /= share.sum(axis=1, keepdims=True)
            target = band[:, None] + np.arange(-1, 2)[None, :]
            keep = (target >= 0) & (target <= len(edges))
            rows.append(np.repeat(members, 3)[keep.ravel()])
            cells.append((first + target)[keep])
            weights.append(share[keep])
        others = np.flatnonzero(~placed)
        rows.append(others)
        cells.append(np.full(len(others), len(self.names) - 1))
        weights.append(np.ones(len(others)))
        return np.concatenate(rows), np.concatenate(cells), np.concatenate(weights)


def _spaced(edges: np.ndarray) -> np.ndarray:
    """The edges, leaving out any nearer than :data:`MIN_BAND` to the one kept before it."""
    kept: list[float] = []
    for edge in np.unique(edges).tolist():
        if not kept or edge - kept[-1] >= MIN_BAND:
            kept.append(edge)
    return np.array(kept)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def _band(low: float, high: float) -> str:
    if np.isinf(low) and np.isinf(high):
        return "any duration"
    if np.isinf(low):
        return f"≤ {high:.2f} s"
    if np.isinf(high):
        return f"> {low:.2f} s"
    return f"{low:.2f}–{high:.2f} s"


def gather_frame(source: Any) -> tuple[pd.DataFrame, str | None]:
    """A gather table from what a fit may be given, and the prompt timing the source uses (if it says).

    :raises TypeError: for a source that is none of the accepted kinds.
    """
    timing = getattr(source, "prompt_timing", None)
    if isinstance(source, CampaignResult):
        return source.table, None
    if isinstance(source, pd.DataFrame):
        if "eventType" in source.columns:  # an events frame: no create requests, hence no options
            return analysis.gather_table(source), timing
        return source, timing
    if hasattr(source, "events") and hasattr(source, "gathers"):  # a store, a session
        return analysis.gather_table(source), timing
    if hasattr(source, "to_dataframe") and hasattr(source, "gathers"):
        return analysis.gather_table(source.to_dataframe(), source.gathers()), timing
    try:  # whatever else gather_table learns to read (a Parquet folder of events, say)
        return analysis.gather_table(source), timing
    except TypeError:
        raise TypeError(
            "fit needs gathers with their options: an EventStore, a Session, a campaign result, a gather "
            f"table (analysis.gather_table) or an events DataFrame, got {type(source).__name__}"
        ) from None


def _options_of(rows: pd.DataFrame) -> dict[str, Any]:
    if "options" in rows.columns and isinstance(rows["options"].iloc[0], dict):
        return dict(rows["options"].iloc[0])
    columns = [c for c in rows.columns if c in analysis.OPTION_COLUMNS or c.startswith("prompt.")]
    first = rows[columns].iloc[0].to_dict()
    return nest_wire({str(k): v for k, v in first.items() if not _missing(v)})


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, dict, list)) and bool(pd.isna(value)))


def _check_table(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("reason", "digits") if c not in table.columns]
    if missing:
        raise ValueError(
            f"the gathers have no {', '.join(map(repr, missing))} column: pass a gather table "
            "(analysis.gather_table(events, gathers)), an EventStore or an events frame"
        )
    option_columns = [c for c in table.columns if c in _NEEDED or c == "options"]
    known = table["optionSet"] != analysis.UNKNOWN_OPTIONS if "optionSet" in table.columns else None
    if not option_columns or (known is not None and not known.any()):
        raise ValueError(
            "these gathers carry no gather options (no create request in the log): a fit needs each "
            "gather's maxDigits, interDigitTimeout, terminatingDigits and prompt, and its createdTime "
            "for durations. Import the app's log of the gathers it created too (lines like "
            '{"gather": {"gatherId", "callId", "createdTime", "options"}}), or pass '
            "analysis.gather_table(events, gathers) with the gathers frame"
        )
    return table


def read_groups(
    source: Any,
    by: str | None,
    prompt_timing: str | None,
    prompt_seconds: float | str | Mapping[str, float] | None,
    pooled: bool,
) -> tuple[dict[str, list[OptionSetData]], list[str], str]:
    """The finished gathers of ``source`` as option sets, per group of ``by`` (one group when None).

    :returns: ``{group: [option set, …]}``, notes about what was left out, the prompt timing used.
    :raises ValueError: for a log without options, too few gathers, one outcome only, several option sets
        in one group without ``pooled``.
    """
    table, source_timing = gather_frame(source)
    timing = prompt_timing or source_timing or "audio"
    prompts.check_timing(timing)
    table = _check_table(table)
    notes: list[str] = []
    if "optionSet" not in table.columns:
        labels = [analysis.describe_options(_options_of(table.iloc[[i]])) for i in range(len(table))]
        table = table.assign(optionSet=labels)
    unknown = table["optionSet"] == analysis.UNKNOWN_OPTIONS
    if unknown.any():
        notes.append(f"{int(unknown.sum()):,} gathers without a create request (no options) were left out")
        table = table.loc[~unknown]
    finished = table["reason"].notna()
    if (~finished).any():
        notes.append(f"{int((~finished).sum()):,} gathers that never ended (no gather event) were left out")
        table = table.loc[finished]
    if by is not None and by not in table.columns:
        raise ValueError(f"by={by!r} is not a column of the gathers: choose one of {list(table.columns)}")
    keys = [None] if by is None else sorted(table[by].dropna().astype(str).unique())
    groups: dict[str, list[OptionSetData]] = {}
    for key in keys:
        rows = table if key is None else table.loc[table[by].astype(str) == key]
        name = "all" if key is None else key
        groups[name] = _option_sets(rows, name, by, timing, prompt_seconds, pooled)
    return groups, notes, timing


def _option_sets(rows: pd.DataFrame, name: str, by: str | None, timing: str,
                 prompt_seconds: float | str | Mapping[str, float] | None, pooled: bool,
                 ) -> list[OptionSetData]:
    where = "" if by is None else f" with {by}={name!r}"
    if len(rows) < MIN_GATHERS:
        raise ValueError(
            f"{len(rows)} finished gather{'s' if len(rows) != 1 else ''}{where} are too few to fit "
            f"callers: a fit needs at least {MIN_GATHERS} (a few hundred for useful intervals)"
        )
    reasons = rows["reason"].astype(str)
    if reasons.nunique() == 1:
        raise ValueError(
            f"every one of the {len(rows):,} gathers{where} ended with {reasons.iloc[0]!r}: with one outcome "
            "the fit cannot tell how callers time out, hang up or finish; add gathers that ended otherwise "
            "(a longer period, or another option set fitted together with pooled=True)"
        )
    labels = rows["optionSet"].astype(str)
    sets = labels.unique().tolist()
    if len(sets) > 1 and not pooled:
        shown = "; ".join(sets[:3]) + ("; …" if len(sets) > 3 else "")
        raise ValueError(
            f"the gathers{where} used {len(sets)} option sets ({shown}): pass by='tag' (or another column "
            "that tells the arms apart) to fit one mix per group, or pooled=True when the same callers met "
            "every option set (an A/B test) and one mix should explain them all"
        )
    out = []
    for label in sets:
        part = rows.loc[labels == label]
        wire = _options_of(part)
        try:
            options = GatherOptions.from_wire(wire)
        except OptionError as exc:
            raise ValueError(
                f"the options of option set {label!r} are not valid gather options: {exc}") from exc
        seconds = _prompt_seconds(prompt_seconds, label, options, timing, part)
        durations = None
        if "duration" in part.columns and part["duration"].notna().all():
            durations = part["duration"].to_numpy(dtype=float)
        reason_codes = np.array([analysis.REASONS.index(r) for r in part["reason"].astype(str)])
        digits = part["digits"].astype("string").fillna("").str.len().to_numpy(dtype=np.int64)
        out.append(OptionSetData(label, options, GatherSpec.from_options(options, seconds), reason_codes,
                                 digits, durations))
    return out


def _prompt_seconds(given: float | str | Mapping[str, float] | None, label: str, options: GatherOptions,
                    timing: str, rows: pd.DataFrame) -> float:
    if given == "log":  # a time-out without any key ends exactly one timeout after the prompt's end
        idle = rows.loc[(rows["reason"] == "inter-digit-timeout") & (rows["digits"].fillna("") == ""),
                        "duration"] if "duration" in rows.columns else pd.Series(dtype=float)
        idle = idle.dropna()
        if len(idle) < 5:
            raise ValueError(
                "prompt_seconds='log' reads the prompt from time-outs without a key, but option set "
                f"{label!r} has {len(idle)} with a duration: pass the prompt's seconds, or leave "
                "prompt_seconds out"
            )
        return max(0.0, float(idle.median()) - options.effective_inter_digit_timeout)
    if given is None:
        return prompts.duration(options, timing)
    if isinstance(given, str):
        raise ValueError(f"prompt_seconds must be seconds, a {{label: seconds}} dict or 'log', got {given!r}")
    if isinstance(given, Mapping):
        if label in given:
            return float(given[label])
        return prompts.duration(options, timing)
    return float(given)
