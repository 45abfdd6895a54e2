"""Synthetic callers through a flow: thousands of people on the gather engine's clock, in seconds.

Each caller is one of a :class:`~catapult_nb.campaign.CallerMix`'s kinds. At every :class:`Ask` they
try to enter what the step's ``answers`` say (a string, ``{string: weight}``, or a callable taking a
numpy Generator; without ``answers``, what the first route wants), typed the way their kind types:
hesitating before the first key, slow or fast between keys, sometimes pressing the terminating key,
sometimes a few keys too many, sometimes hanging up.

:func:`run_campaign` plays every caller at once, step by step, with NumPy
(:mod:`catapult_nb.campaign.flow_vectorised`: the gather engine's rules as arrays, each decision by
:meth:`~catapult_nb.flows.steps.Ask.decide`'s rules); :func:`play_one_by_one` plays one caller at a time
on the simulator's own engine (:func:`catapult_nb.engine.run_gather`) and the runner's own
:meth:`~catapult_nb.flows.steps.Ask.decide`, and is the reference the first is tested against, caller by
caller. Nothing sleeps and nothing goes over HTTP.

Every random draw of caller *i* at the *v*-th visit of a step depends on ``(seed, i, step, v)`` alone
(:mod:`catapult_nb.campaign.flow_draws`), so two flows run with the same seed meet the same people, and a
change to one step changes only what happens from that step on.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from catapult_nb.campaign.flow_engine import (
    FlowCampaignResult,
    caller_kinds,
    max_margin,
    play_one_by_one,
    run_on_engine,
    step_plan,
)
from catapult_nb.campaign.results import CampaignComparison
from catapult_nb.flows.diagram import to_mermaid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from catapult_nb.flows.flow import Flow

__all__ = [
    "FlowCampaignResult", "FlowComparison", "caller_kinds", "compare_flows", "max_margin", "play_one_by_one",
    "run_flow_campaign", "step_plan",
]


def run_flow_campaign(
    flow: Flow, callers: Any = None, n: int = 1000, seed: int = 0, *, progress: bool | str = True,
    margin: float = 0.0, over_the_wire: bool = False, **wire: Any,
) -> FlowCampaignResult:
    """Play ``n`` synthetic callers through ``flow`` on the engine's clock, all at once, step by step.

    The flow side of :func:`catapult_nb.campaign.run_campaign`, which is the way in (it takes a flow or
    gather options, with the same keywords).

    :param callers: a :class:`~catapult_nb.campaign.Caller`, a :class:`~catapult_nb.campaign.CallerMix`,
        or None (the default mix of campaigns).
    :param progress: show a progress bar for large runs; a string is the bar's label (default the flow's
        name; :class:`FlowComparison` gives each variant's label).
    :param margin: keep every wait that decides a timeout this many API seconds from it (see
        :func:`~catapult_nb.campaign.flow_draws.caller_timeline`); 0 leaves the timelines as drawn. Over
        the wire it defaults to a safe value.
    :param over_the_wire: play the callers through the HTTP simulator, the flow running on real callbacks
        (:func:`catapult_nb.campaign.flow_wire.run_over_the_wire`); ``wire`` then takes its ``speed``,
        ``concurrency`` and ``timeout``.
    :raises ValueError: ``n`` out of 1…1,000,000, a bad ``seed`` or ``margin``; :class:`FlowError` for
        ``answers`` that can never take a route, weights that do not sum to a positive number, or keys no
        caller can press; TypeError for wire options without ``over_the_wire=True``.
    """
    if over_the_wire:
        from catapult_nb.campaign.flow_wire import WIRE_OPTIONS, run_over_the_wire

        unknown = [name for name in wire if name not in WIRE_OPTIONS]
        if unknown:
            raise TypeError(
                f"run_campaign has no option {', '.join(unknown)}; over the wire it also takes "
                f"{', '.join(WIRE_OPTIONS)}"
            )
        return run_over_the_wire(flow, callers, n, seed, margin=margin or None, progress=progress, **wire)
    if wire:
        raise TypeError(f"{', '.join(wire)} only apply with over_the_wire=True")
    return run_on_engine(flow, callers, n, seed, progress=progress, margin=margin, one_by_one=False)


class FlowComparison(CampaignComparison[FlowCampaignResult]):
    """Several flows' campaigns, the same people through each: shown side by side, one column per flow,
    each with its outcomes, its funnel and its diagram with the callers counted on the edges.

    Build it with :meth:`run` (``FlowComparison.run({"2 retries": flow, "1 retry": variant}, n=10_000)``)
    or from results already run (``FlowComparison({"a": result_a, "b": result_b})``). Displayed, it is
    Markdown with raw HTML columns and Mermaid blocks, which JupyterLab ≥ 4.1 draws and ``nbconvert``'s
    HTML export draws too (no ``_repr_html_``: a front end would rank HTML first and show the diagrams'
    text instead of drawing them).

    :param results: ``{label: FlowCampaignResult}``, in the order to show them.
    :raises ValueError: for no results.
    """

    compared: ClassVar[str] = "flows"

    def __init__(self, results: Mapping[str, FlowCampaignResult]) -> None:
        if not results:
            raise ValueError("a comparison needs at least one campaign result: {label: run_campaign(...)}")
        self.results = dict(results)

    @classmethod
    def run(
        cls, flows: Mapping[str, Flow], callers: Any = None, n: int = 1000, seed: int = 0, **kwargs: Any
    ) -> FlowComparison:
        """Run the same callers (same ``seed``) through each flow; arguments as for :func:`run_campaign`
        (``kwargs``: ``progress``, ``margin``, …)."""
        if not flows:
            raise ValueError("compare at least one flow: {label: flow}")
        shown = kwargs.pop("progress", True)  # each bar says which variant it counts, not the flow's name
        return cls({label: run_flow_campaign(flow, callers, n, seed, progress=label if shown else False,
                                             **kwargs)
                    for label, flow in flows.items()})

    def shares(self) -> pd.DataFrame:
        """Outcome shares, one row per flow (what :func:`compare_flows` returned)."""
        table = {label: result.outcomes() / len(result.table) for label, result in self.results.items()}
        return pd.DataFrame(table).fillna(0.0).T.rename_axis("flow")

    @property
    def table(self) -> pd.DataFrame:
        """One row per flow: ``callers``, the share of each outcome (``completedRate`` …), the median time
        to the end of the call (API seconds) and the mean retries."""
        shares = self.shares()
        shares.columns = [f"{_camel(outcome)}Rate" for outcome in shares.columns]
        figures = pd.DataFrame({
            label: {"callers": len(result.table), "medianTime": float(result.table["time"].median()),
                    "meanRetries": float(result.table["retries"].mean())}
            for label, result in self.results.items()
        }).T
        table = pd.concat([figures[["callers"]], shares, figures[["medianTime", "meanRetries"]]], axis=1)
        return table.rename_axis("flow").astype({"callers": "int64"})

    def plot(self) -> Figure:
        """How the callers of each flow ended: one stacked bar of outcome shares per flow."""
        import matplotlib.pyplot as plt

        shares = self.shares()
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.5 * len(shares)))
        shares.iloc[::-1].plot.barh(stacked=True, ax=ax, width=0.6)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of callers")
        ax.set_ylabel("")
        n = len(next(iter(self.results.values())).table)
        ax.set_title(f"{n:,} callers through each flow, the same people")
        ax.legend(title="outcome", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        plt.close(fig)
        return fig

    def funnels(self) -> dict[str, pd.DataFrame]:
        """Each flow's :meth:`FlowCampaignResult.funnel`, by label."""
        return {label: result.funnel() for label, result in self.results.items()}

    def diagrams(self) -> dict[str, str]:
        """Each flow's Mermaid text with the callers counted on the edges, by label; compact boxes (the
        steps' names), so that the diagrams side by side keep readable text."""
        return {label: to_mermaid(result.flow, counts=result.edge_counts(), compact=True)
                for label, result in self.results.items()}

    def _repr_markdown_(self) -> str:
        shares = self.shares().map(lambda v: f"{v:.1%}").to_html(classes="cnb-flow-shares")
        width = f"{100 / len(self.results):.0f}%"
        heads, cells = [], []
        for (label, result), diagram in zip(self.results.items(), self.diagrams().values(), strict=True):
            funnel = result.funnel().drop(columns=["visits", "next", "end"])  # a Say's next = reached
            shown = funnel.loc[:, (funnel != 0).any()].rename(columns=_FUNNEL_HEADS).reset_index()
            heads.append(f'<th style="width: {width}">{html.escape(label)}</th>')
            cells.append(
                f'<td style="width: {width}; vertical-align: top">\n\n'
                f'{shown.to_html(classes="cnb-flow-funnel", index=False)}\n\n'
                f"```mermaid\n{diagram}```\n\n</td>"
            )
        n = len(next(iter(self.results.values())).table)
        return (
            f'<div class="cnb-flow-comparison">\n\n**{n:,} callers through each flow, the same people**'
            f'\n\n{shares}\n\n<table style="width: 100%; table-layout: fixed">\n<tr>{"".join(heads)}</tr>'
            f"\n<tr>{''.join(cells)}</tr>\n</table>\n\n</div>\n"
        )


_FUNNEL_HEADS = {"no_input": "no input", "hangup": "hung up"}


def _camel(outcome: str) -> str:
    first, *rest = str(outcome).replace("_", "-").split("-")
    return first + "".join(word.title() for word in rest)


def compare_flows(
    flows: Mapping[str, Flow], callers: Any = None, n: int = 1000, seed: int = 0, **kwargs: Any
) -> pd.DataFrame:
    """Deprecated: :func:`catapult_nb.campaign.compare` with ``{name: flow}`` gives the
    :class:`FlowComparison`, whose :meth:`~FlowComparison.shares` is this frame.

    :returns: outcome shares, one row per flow, the same people (same ``seed``) through each.
    """
    warnings.warn(
        "compare_flows(flows, …) is now catapult_nb.campaign.compare(flows, …), a FlowComparison; "
        "its .shares() is the frame compare_flows returned", DeprecationWarning, stacklevel=2,
    )
    kwargs.setdefault("progress", False)
    return FlowComparison.run(flows, callers, n, seed, **kwargs).shares()


def __getattr__(name: str) -> Any:
    # run_campaign was this module's when it lived in the flows package: the old path gives the one
    # run_campaign now, which takes gather options or a flow (campaign.run stands on this module)
    if name == "run_campaign":
        return import_module("catapult_nb.campaign.run").run_campaign
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
