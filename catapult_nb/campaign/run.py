"""Running campaigns: on the engine's rules for all callers at once, or over the wire; several option sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast, overload

from catapult_nb import analysis, prompts
from catapult_nb.campaign.callers import MAX_N, Caller, CallerMix, check_float, check_int, coerce_callers
from catapult_nb.campaign.fit import FittedMix, forecast_shares
from catapult_nb.campaign.flow_engine import FlowCampaignResult
from catapult_nb.campaign.flow_run import FlowComparison, run_flow_campaign
from catapult_nb.campaign.plans import build_timelines, draw, play
from catapult_nb.campaign.results import CampaignResult, Comparison, campaign_id_arrays, engine_result
from catapult_nb.campaign.wire import run_over_the_wire
from catapult_nb.engine import GatherSpec
from catapult_nb.flows.flow import Flow
from catapult_nb.options import GatherOptions

__all__ = ["compare", "run_campaign"]


@overload
def run_campaign(
    options: Flow,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float = 0.0,
    over_the_wire: bool = False,
    prompt_timing: str | None = None,
    progress: bool = True,
    **wire: Any,
) -> FlowCampaignResult: ...


@overload
def run_campaign(
    options: GatherOptions | dict[str, Any] | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float = 0.0,
    over_the_wire: bool = False,
    prompt_timing: str | None = None,
    progress: bool = True,
    **wire: Any,
) -> CampaignResult: ...


def run_campaign(
    options: GatherOptions | dict[str, Any] | Flow | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float = 0.0,
    over_the_wire: bool = False,
    prompt_timing: str | None = None,
    progress: bool = True,
    **wire: Any,
) -> CampaignResult | FlowCampaignResult:
    """Play ``n`` synthetic callers against one set of gather options, or through a whole call flow.

    With a :class:`~catapult_nb.flows.Flow`, the callers go through the flow step by step
    (:func:`catapult_nb.campaign.flow_run.run_flow_campaign`) and the result is a
    :class:`~catapult_nb.campaign.flow_engine.FlowCampaignResult`; its prompts are timed by the estimate,
    at most 1,000,000 callers, and ``label`` does not apply. Both results hold their rows in ``.table``.
    ``catapult_nb.flows.run_campaign`` is this function.

    With callers fitted to a log (:meth:`CallerMix.fit`), the result's ``forecast`` gives the completed,
    timed-out and hung-up shares with intervals (each bootstrap refit of the fit plays the same callers).

    :param options: the gather options (``GatherOptions``, or a wire dict as the API takes it), or a flow.
    :param callers: who calls: a :class:`Caller`, a :class:`CallerMix`, a ``{Caller: weight}`` dict or a
        list of callers / ``(caller, weight)`` pairs. Default :data:`DEFAULT_CALLERS`.
    :param n: how many callers: 1 … 10,000,000 for gather options
        (:data:`~catapult_nb.campaign.callers.MAX_N`), 1 … 1,000,000 for a flow (each of its callers is a
        row of Python objects), 1 … 100,000 for a flow over the wire.
    :param seed: the random seed; the same seed and callers give the same people, whatever the options.
    :param label: the name of this option set in the ``optionSet`` column (default: the options spelled
        out by :func:`analysis.describe_options`).
    :param margin: keep every timing decision this many API seconds from its deadline (see
        docs/campaigns.md); 0 leaves the timelines as drawn. Over the wire it defaults to a safe value.
    :param over_the_wire: play the callers through the HTTP simulator with real callbacks instead of the
        engine; ``wire`` then takes ``speed``, ``simulator``, ``receiver``, ``concurrency``, ``timeout`` (see
        :func:`run_over_the_wire`; a flow takes ``speed``, ``concurrency``, ``timeout``).
    :param prompt_timing: ``"audio"`` (the default for gather options) times the prompt by its audio
        rendered with espeak-ng (once per run, not per caller), ``"estimate"`` (a flow's only timing) at
        150 words per minute — as the simulator does.
    :param progress: a progress bar while a long flow campaign runs.
    :raises ValueError: for a bad ``n``, ``seed`` or ``margin`` (and OptionError for bad options), a
        ``label`` or ``"audio"`` timing given with a flow.
    """
    if isinstance(options, Flow):
        if label is not None:
            raise ValueError("label names an option set; a flow campaign is named by its flow")
        if prompt_timing not in (None, "estimate"):
            raise ValueError(
                f"a flow campaign times its prompts by the estimate, got prompt_timing={prompt_timing!r}"
            )
        return run_flow_campaign(options, callers, n, seed, progress=progress, margin=margin,
                                 over_the_wire=over_the_wire, **wire)
    prompt_timing = prompt_timing or "audio"
    options = GatherOptions.coerce(options) if options is not None else GatherOptions()
    mix_ = coerce_callers(callers)
    check_int("n", n, 1, MAX_N)
    check_int("seed", seed, 0, None)
    label = label if label is not None else analysis.describe_options(options)
    if over_the_wire:
        return run_over_the_wire(options, mix_, n, seed, label=label, margin=margin or None,
                                 prompt_timing=prompt_timing, **wire)
    if wire:
        raise TypeError(f"{', '.join(wire)} only apply with over_the_wire=True")
    check_float("margin", margin, low=0.0, high=options.effective_inter_digit_timeout / 2)
    spec = GatherSpec.from_options(options, prompts.measure(options, prompt_timing).seconds)
    draws = draw(mix_, n, seed)
    kind, lines = draws.kind, build_timelines(draws, spec, margin)
    del draws  # the (callers × keys) arrays go as soon as they are used: a million callers fit in 1 GiB
    reasons, digits, first_keys, ends = play(spec, lines)
    intended = lines.intended()
    del lines
    result = engine_result(options, mix_, label, seed, campaign_id_arrays(label, n), reasons, digits,
                           first_keys, ends, intended, kind, mode="engine")
    result.margin = margin
    if isinstance(mix_, FittedMix):
        result.forecast = forecast_shares(spec, mix_, n, seed, point=reasons)
    return result


@overload
def compare(
    option_sets: Mapping[str, Flow],
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    **kwargs: Any,
) -> FlowComparison: ...


@overload
def compare(
    option_sets: Mapping[str, GatherOptions | dict[str, Any]] | Sequence[GatherOptions | dict[str, Any]],
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    **kwargs: Any,
) -> Comparison: ...


def compare(
    option_sets: Mapping[str, GatherOptions | dict[str, Any]] | Sequence[GatherOptions | dict[str, Any]]
    | Mapping[str, Flow],
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    **kwargs: Any,
) -> Comparison | FlowComparison:
    """Run the same callers (same ``seed``) against several option sets, or through several flows.

    :param option_sets: ``{name: options}``, or a list of options (named by their spelled-out options);
        or ``{name: flow}``, which gives a :class:`~catapult_nb.campaign.flow_run.FlowComparison`
        (its ``.shares()`` is the frame the deprecated ``compare_flows`` returns).
    :param callers: as for :func:`run_campaign`.
    :param n: as for :func:`run_campaign`.
    :param seed: as for :func:`run_campaign`.
    :param kwargs: passed on to :func:`run_campaign` (``margin``, ``over_the_wire``, …).
    :raises ValueError: for no option sets, or two with the same name.
    """
    if isinstance(option_sets, Mapping) and option_sets and all(
        isinstance(v, Flow) for v in option_sets.values()
    ):
        kwargs.setdefault("progress", False)
        return FlowComparison.run(cast(Mapping[str, Flow], option_sets), callers, n, seed, **kwargs)
    if isinstance(option_sets, Mapping):
        named = [(str(k), v) for k, v in option_sets.items()]
    else:
        named = [(analysis.describe_options(GatherOptions.coerce(o)), o) for o in option_sets]
    if not named:
        raise ValueError("compare needs at least one option set")
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(
            "two option sets have the same name: pass a dict {name: options} with distinct names"
        )
    results = {}
    for name, options in named:
        if isinstance(options, Flow):
            raise TypeError("compare takes option sets or, as {name: flow}, flows; not both at once")
        results[name] = run_campaign(options, callers, n, seed, label=name, **kwargs)
    return Comparison(results)
