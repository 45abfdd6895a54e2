"""Synthetic caller campaigns: prototype gather options on thousands of simulated callers.

::

    result = run_campaign(GatherOptions(max_digits=5, inter_digit_timeout=7), n=10_000, seed=1)
    result.table                       # analysis.gather_table(result.events, result.gathers)
    compare({"3 s": GatherOptions(inter_digit_timeout=3), "7 s": GatherOptions(inter_digit_timeout=7)},
            n=10_000, seed=1).plot()

Modules, top down: ``run`` (:func:`run_campaign`, :func:`compare`), ``wire`` (the same timelines over
the HTTP simulator), ``results`` (the frames), ``plans`` (random draws and timelines on the gather
engine), ``callers`` (kinds of caller). The model — callers, timelines, frames, the safety margin over
the wire — is described in ``docs/campaigns.md``.
"""

from catapult_nb.campaign.callers import DEFAULT_CALLERS, Caller, CallerMix, mix
from catapult_nb.campaign.results import CAMPAIGN_EPOCH, CampaignResult, Comparison
from catapult_nb.campaign.run import compare, run_campaign
from catapult_nb.campaign.wire import run_over_the_wire

__all__ = [
    "CAMPAIGN_EPOCH",
    "DEFAULT_CALLERS",
    "Caller",
    "CallerMix",
    "CampaignResult",
    "Comparison",
    "compare",
    "mix",
    "run_campaign",
    "run_over_the_wire",
]
