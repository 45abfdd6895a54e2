"""What a caller fit found: estimates with intervals, what the log could not tell, observed vs fitted."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from catapult_nb import analysis
from catapult_nb.campaign.fit_data import OptionSetData
from catapult_nb.campaign.fit_model import model_deviance
from catapult_nb.campaign.plans import build_timelines, draw, play

if TYPE_CHECKING:
    from collections.abc import Callable

    from catapult_nb.campaign.fit import FittedMix

__all__ = ["FitReport"]

#: Callers simulated per option set for the fitted side of the plots.
PLOT_CALLERS = 20_000
_OBSERVED, _FITTED = "#4c72b0", "#dd8452"


@dataclass
class _Outcomes:
    reasons: np.ndarray  # index into analysis.REASONS
    digit_counts: np.ndarray
    durations: np.ndarray | None


class FitReport:
    """The report of one fitted mix, or of one per group (``by=``): :attr:`estimates`, :attr:`notes`,
    :attr:`fit_quality`, :meth:`plot`; shown as a table, the notes and the plots in a notebook."""

    def __init__(self, groups: dict[str, FittedMix]) -> None:
        self.groups = groups

    @property
    def estimates(self) -> pd.DataFrame:
        """Every group's estimates (``group``, ``kind``, ``parameter``; ``estimate``, ``low``, ``high``,
        ``identified``)."""
        return pd.concat({g: m.estimates for g, m in self.groups.items()}, names=["group"])

    @property
    def notes(self) -> dict[str, list[str]]:
        """Per group, what the log could not tell and what was left out."""
        return {g: m.notes for g, m in self.groups.items()}

    @property
    def fit_quality(self) -> pd.DataFrame:
        """Per group: gathers, kinds, the G statistic of observed against fitted cells, the cells' degrees
        of freedom, and the G statistic's expected excess from the simulation (``simulationFactor``)."""
        rows = {}
        for g, m in self.groups.items():
            d = m.details
            counts = [s.counts for s in d.sets]
            cells = sum(len(o) - 1 for o in counts) - int(d.model.free.sum())
            simulated = len(d.model.draws.z_first)
            rows[g] = {"gathers": d.n, "kinds": d.model.kinds,
                       "G": model_deviance(d.model, d.theta, counts), "df": max(cells, 1),
                       "simulationFactor": 1 + d.n / (simulated * len(d.sets))}
        return pd.DataFrame(rows).T.astype({"gathers": "int64", "kinds": "int64", "df": "int64"})

    def outcomes(self, group: str, data: OptionSetData) -> _Outcomes:
        """The fitted callers of ``group`` played on one option set (same spec as the log's)."""
        mix_ = self.groups[group]
        lines = build_timelines(draw(mix_, PLOT_CALLERS, 0), data.spec, 0.0)
        reasons, digits, _, ends = play(data.spec, lines)
        counts = np.char.str_len(digits.astype(str)) if len(digits) else np.zeros(0, dtype=int)
        return _Outcomes(reasons.astype(int), counts, ends if data.durations is not None else None)

    def plot(self) -> analysis.PlotFigure:
        """Observed (blue) against fitted (orange), one row per option set: how gathers ended, how many
        digits they took, and how long they lasted."""
        rows = [(g, s) for g, m in self.groups.items() for s in m.details.sets]
        fig = analysis.PlotFigure(figsize=(11, 2.8 * len(rows)), layout="constrained")
        axes = fig.subplots(len(rows), 3, squeeze=False)
        for (group, data), (ax_r, ax_d, ax_t) in zip(rows, axes, strict=True):
            fitted = self.outcomes(group, data)
            title = data.label if len(data.label) <= 60 else data.label[:59] + "…"
            title = f"{group}: {title}" if group != "all" else title
            _bars(ax_r, list(analysis.REASONS), _share(data.reasons, len(analysis.REASONS)),
                  _share(fitted.reasons, len(analysis.REASONS)))
            ax_r.set_title(title, fontsize=8, loc="left")
            ax_r.set_ylabel("share of gathers")
            ax_r.tick_params(axis="x", labelsize=7, rotation=15)
            top = int(max(data.digit_counts.max(), fitted.digit_counts.max())) + 1
            _bars(ax_d, [str(k) for k in range(top)], _share(data.digit_counts, top),
                  _share(fitted.digit_counts, top))
            ax_d.set_xlabel("digits gathered")
            if data.durations is None or fitted.durations is None:
                ax_t.text(0.5, 0.5, "no durations in the log", ha="center", va="center")
                ax_t.set_axis_off()
                continue
            high = float(np.quantile(data.durations, 0.995))
            bins = np.linspace(0, max(high, 1.0), 50)
            ax_t.hist(data.durations, bins=bins, density=True, histtype="stepfilled", alpha=0.45,
                      color=_OBSERVED, label="observed")
            ax_t.hist(fitted.durations, bins=bins, density=True, histtype="step", lw=1.5, color=_FITTED,
                      label="fitted")
            ax_t.set_xlabel("duration (API seconds)")
            ax_t.legend(fontsize=7)
        return fig

    def __repr__(self) -> str:
        parts = []
        for m in self.groups.values():
            est = m.estimates
            shown = est.assign(interval=[_interval(r) for r in est.itertuples()])[["estimate", "interval"]]
            parts.append(f"{m!r}\n{shown.to_string(float_format=lambda v: f'{v:.3g}')}")
            parts.extend(f"  - {note}" for note in m.notes)
        return "\n\n".join(parts)

    def _repr_html_(self, plots: bool = True) -> str:
        quality = self.fit_quality
        out = ["<div><b>Callers fitted to a log</b>"]
        for g, m in self.groups.items():
            d = m.details
            q = quality.loc[g]
            head = f"{html.escape(g)}: " if g != "all" else ""
            out.append(
                f"<p>{head}{d.n:,} gathers, {d.model.kinds} "
                f"kind{'s' if d.model.kinds > 1 else ''} of caller; "
                f"{int(d.level * 100)} % intervals from {len(d.replicates)} bootstrap refits; "
                f"G = {q['G']:.0f} on {int(cast(float, q['df']))} degrees of freedom "
                f"(simulation alone inflates it about {q['simulationFactor']:.1f}-fold)</p>"
            )
            out.append(_estimates_html(m.estimates))
            if m.notes:
                out.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in m.notes) + "</ul>")
        if not plots:
            return "".join(out) + "<p>Observed against fitted: <code>.report()</code></p></div>"
        buffer = io.BytesIO()
        self.plot().savefig(buffer, format="png", dpi=80)
        image = base64.b64encode(buffer.getvalue()).decode("ascii")
        out.append(f'<img src="data:image/png;base64,{image}" alt="observed against fitted"/></div>')
        return "".join(out)


def _interval(row: object) -> str:
    low, high = getattr(row, "low"), getattr(row, "high")  # noqa: B009 — itertuples rows
    if pd.isna(low):
        return ""
    flag = "" if getattr(row, "identified") else "  (not identified)"  # noqa: B009
    return f"[{low:.3g}, {high:.3g}]{flag}"


def _estimates_html(est: pd.DataFrame) -> str:
    rows = []
    for key, r in est.iterrows():
        kind, parameter = cast("tuple[str, str]", key)
        share = parameter.endswith(("rate", "_in", "share"))
        fmt: Callable[[float], str] = (lambda v: f"{v:.1%}") if share else (lambda v: f"{v:.3g}")
        interval = "" if pd.isna(r["low"]) else f"{fmt(r['low'])} – {fmt(r['high'])}"
        style = "" if r["identified"] else ' style="color:#999"'
        note = "" if r["identified"] else " (the log cannot tell)"
        rows.append(f"<tr{style}><td>{html.escape(kind)}</td><td>{html.escape(parameter)}</td>"
                    f"<td>{fmt(r['estimate'])}</td><td>{interval}{note}</td></tr>")
    return ("<table><tr><th>kind</th><th>parameter</th><th>estimate</th><th>interval</th></tr>"
            + "".join(rows) + "</table>")


def _share(values: np.ndarray, size: int) -> np.ndarray:
    counts = np.bincount(np.minimum(values.astype(int), size - 1), minlength=size).astype(float)
    shares: np.ndarray = counts / max(counts.sum(), 1.0)
    return shares


def _bars(ax: object, labels: list[str], observed: np.ndarray, fitted: np.ndarray) -> None:
    x = np.arange(len(labels))
    ax.bar(x - 0.2, observed, 0.4, color=_OBSERVED, label="observed")  # type: ignore[attr-defined]
    ax.bar(x + 0.2, fitted, 0.4, color=_FITTED, label="fitted")  # type: ignore[attr-defined]
    ax.set_xticks(x, labels)  # type: ignore[attr-defined]
    ax.legend(fontsize=7)  # type: ignore[attr-defined]
