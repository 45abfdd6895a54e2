"""Running campaigns: on the engine's rules for all callers at once, or over the wire; several option sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from catapult_nb import analysis, prompts
from catapult_nb.campaign.callers import MAX_N, Caller, CallerMix, check_float, check_int, coerce_callers
from catapult_nb.campaign.plans import build_timelines, draw, play
from catapult_nb.campaign.results import CampaignResult, Comparison, campaign_id_arrays, engine_result
from catapult_nb.campaign.wire import run_over_the_wire
from catapult_nb.engine import GatherSpec
from catapult_nb.options import GatherOptions

__all__ = ["compare", "run_campaign"]


def run_campaign(
    options: GatherOptions | dict[str, Any] | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float = 0.0,
    over_the_wire: bool = False,
    prompt_timing: str = "audio",
    **wire: Any,
) -> CampaignResult:
    """Play ``n`` synthetic callers against one set of gather options.

    :param options: the gather options (``GatherOptions``, or a wire dict as the API takes it).
    :param callers: who calls: a :class:`Caller`, a :class:`CallerMix`, a ``{Caller: weight}`` dict or a
        list of callers / ``(caller, weight)`` pairs. Default :data:`DEFAULT_CALLERS`.
    :param n: how many callers (1 … 10,000,000).
    :param seed: the random seed; the same seed and callers give the same people, whatever the options.
    :param label: the name of this option set in the ``optionSet`` column (default: the options spelled
        out by :func:`analysis.describe_options`).
    :param margin: keep every timing decision this many API seconds from its deadline (see
        docs/campaigns.md); 0 leaves the timelines as drawn. Over the wire it defaults to a safe value.
    :param over_the_wire: play the callers through the HTTP simulator with real callbacks instead of the
        engine; ``wire`` then takes ``speed``, ``simulator``, ``receiver``, ``rate``, ``timeout`` (see
        :func:`run_over_the_wire`).
    :param prompt_timing: ``"audio"`` times the prompt by its audio rendered with espeak-ng (once per
        run, not per caller), ``"estimate"`` at 150 words per minute — as the simulator does.
    :raises ValueError: for a bad ``n``, ``seed`` or ``margin`` (and OptionError for bad options).
    """
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
    spec = GatherSpec.from_options(options, prompts.duration(options, prompt_timing))
    draws = draw(mix_, n, seed)
    kind, lines = draws.kind, build_timelines(draws, spec, margin)
    del draws  # the (callers × keys) arrays go as soon as they are used: a million callers fit in 1 GiB
    reasons, digits, first_keys, ends = play(spec, lines)
    intended = lines.intended()
    del lines
    result = engine_result(options, mix_, label, seed, campaign_id_arrays(label, n), reasons, digits,
                           first_keys, ends, intended, kind, mode="engine")
    result.margin = margin
    return result


def compare(
    option_sets: Mapping[str, GatherOptions | dict[str, Any]] | Sequence[GatherOptions | dict[str, Any]],
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    **kwargs: Any,
) -> Comparison:
    """Run the same callers (same ``seed``) against several option sets.

    :param option_sets: ``{name: options}``, or a list of options (named by their spelled-out options).
    :param callers, n, seed: as for :func:`run_campaign`.
    :param kwargs: passed on to :func:`run_campaign` (``margin``, ``over_the_wire``, …).
    :raises ValueError: for no option sets, or two with the same name.
    """
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
    return Comparison({name: run_campaign(options, callers, n, seed, label=name, **kwargs)
                       for name, options in named})
