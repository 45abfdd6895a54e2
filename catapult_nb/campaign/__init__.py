"""Synthetic caller campaigns: prototype gather options on thousands of simulated callers.

::

    result = run_campaign(GatherOptions(max_digits=5, inter_digit_timeout=7), n=10_000, seed=1)
    result.table                       # analysis.gather_table(result.events, result.gathers)
    compare({"3 s": GatherOptions(inter_digit_timeout=3), "7 s": GatherOptions(inter_digit_timeout=7)},
            n=10_000, seed=1).plot()
    run_campaign(flow, n=10_000, seed=1).table   # a whole call flow: one row per caller

Modules, top down: ``run`` (:func:`run_campaign`, :func:`compare`, for gather options or a flow),
``wire`` (the same timelines over the HTTP simulator), ``results`` (the frames), ``plans`` (random draws
and timelines on the gather engine), ``callers`` (kinds of caller); for flows ``flow_run``
(:class:`FlowComparison`), ``flow_wire``, ``flow_engine``, ``flow_vectorised``, ``flow_draws``. The model —
callers, timelines, frames, the safety margin over the wire — is described in ``docs/campaigns.md``.

Callers fitted to a log: ``CallerMix.fit(store, by="tag")`` (``fit``, with ``fit_model`` the likelihood,
``fit_data`` the log's cells and ``fit_report`` the report) gives a :class:`FittedMix` to forecast other
options with (``run_campaign(options, callers=fitted).forecast``); see ``docs/fitting.md``.
"""

from catapult_nb.campaign.callers import DEFAULT_CALLERS, Caller, CallerMix, mix
from catapult_nb.campaign.fit import FitReport, FittedGroups, FittedMix
from catapult_nb.campaign.flow_engine import FlowCampaignResult
from catapult_nb.campaign.flow_run import FlowComparison, compare_flows
from catapult_nb.campaign.results import CAMPAIGN_EPOCH, CampaignComparison, CampaignResult, Comparison
from catapult_nb.campaign.run import compare, run_campaign
from catapult_nb.campaign.wire import run_over_the_wire

__all__ = [
    "CAMPAIGN_EPOCH",
    "DEFAULT_CALLERS",
    "Caller",
    "CallerMix",
    "CampaignComparison",
    "CampaignResult",
    "Comparison",
    "FitReport",
    "FittedGroups",
    "FittedMix",
    "FlowCampaignResult",
    "FlowComparison",
    "compare",
    "compare_flows",
    "mix",
    "run_campaign",
    "run_over_the_wire",
]
