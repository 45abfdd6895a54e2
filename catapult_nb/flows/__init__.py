"""Call flows: build a whole phone interaction, run it on the simulator, then unchanged on Catapult.

::

    from catapult_nb.flows import Flow, Ask, Say, Transfer

    flow = Flow({
        "code": Ask("Please enter your 5 digit code, then star.", max_digits=5, terminating_digits="*",
                    routes={r"\\d{5}": "confirm"}, retries=2, exhausted="sorry"),
        "confirm": Ask("You entered {code}. Press 1 if that is right, 2 to try again.", max_digits=1,
                       routes={"1": "thanks", "2": "code"}),
        "thanks": Say("Thank you. Goodbye."),
        "sorry": Say("Sorry, we could not read your code.", next="operator"),
        "operator": Transfer("+15550100999"),
    }, start="code", name="account code")

    run = session.call("+15551234567", flow=flow)
    run.wait().outcome, run.path, run.transcript

Modules: :mod:`~catapult_nb.flows.steps` (the steps and the checks), :mod:`~catapult_nb.flows.flow`
(:class:`Flow`), :mod:`~catapult_nb.flows.runner` (:class:`FlowRun`), :mod:`~catapult_nb.flows.transcript`,
:mod:`~catapult_nb.flows.diagram` (Mermaid).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from catapult_nb.flows.flow import Flow
from catapult_nb.flows.runner import OUTCOMES, FlowRun
from catapult_nb.flows.steps import Ask, FlowError, Hangup, Play, Say, Step, Transfer
from catapult_nb.flows.transcript import Transcript

if TYPE_CHECKING:
    from catapult_nb.campaign import FlowCampaignResult, FlowComparison, compare, compare_flows, run_campaign

# campaigns stand on flows, not the other way round: their names are here for convenience, loaded on use;
# run_campaign and compare are catapult_nb.campaign's, which take gather options or flows
_CAMPAIGN = ("FlowCampaignResult", "FlowComparison", "compare", "compare_flows", "run_campaign")

__all__ = [
    "OUTCOMES", "Ask", "Flow", "FlowCampaignResult", "FlowComparison", "FlowError", "FlowRun", "Hangup",
    "Play", "Say", "Step", "Transcript", "Transfer", "compare", "compare_flows", "run_campaign",
]


def __getattr__(name: str) -> Any:
    if name in _CAMPAIGN:
        value = getattr(import_module("catapult_nb.campaign"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'catapult_nb.flows' has no attribute {name!r}")
