"""Gather outcomes as tables, summaries and plots.

Everything here works on the events DataFrame of a session (``EventStore.to_dataframe()``: one row per
callback event, ``eventType``/``time``/``callId``/``gatherId``/``reason``/``digits``/…), live or simulated,
and optionally on the gathers table (``EventStore.gathers()``: one row per gather the toolkit created, with
``createdTime`` from the API's clock and the options that were sent). Synthetic campaigns
(:mod:`catapult_nb.campaign`) produce the same two frames, so the same functions apply to them.

The central piece is :func:`gather_table` — one row per gather. The summaries and plots accept either that
table or a raw events frame (they build the table themselves when given events).

Definitions used throughout:

* A gather is **finished** when its ``gather`` event arrived (it has a ``reason``). Gathers that are still
  running, or were stopped by the app (no event is sent then), appear in :func:`gather_table` with an empty
  reason and are left out of every summary.
* A gather is **completed** when the caller finished the entry: reason ``max-digits`` or
  ``terminating-digit``. ``inter-digit-timeout`` and ``hung-up`` are not completions — even a time-out that
  collected some digits, because the caller never confirmed them.
* **duration** is ``createdTime`` (the gather was created) → the ``gather`` event's ``time``, in API seconds
  (both come from the API's clock, so simulator speed does not matter). It needs the gathers table.
* **timeToFirstKey** is ``createdTime`` → the first key of the gather, in API seconds; it includes the prompt
  (keys may barge in). The first key is read from a ``firstKeyTime`` column when the events carry one
  (campaign data does), otherwise from the first ``dtmf`` event of the call inside the gather's window
  ``[createdTime, gather event time]``. With ``suppressDtmf`` true (the API default) there are no ``dtmf``
  events during a gather, so for live or simulated sessions it is NaN unless ``suppressDtmf`` was false.

Plots return :class:`matplotlib.figure.Figure` objects (a :class:`PlotFigure`) built without ``pyplot`` (no
global state, nothing is shown twice); a notebook displays a returned figure by itself.

Modules: ``tables`` (:func:`gather_table`, the summaries), ``v2`` (Voice API v2 gathers as rows of the
table), ``plots`` (the figures), ``prompt_lab`` (:func:`compare_prompts`).
"""

from catapult_nb.analysis.plots import (
    PlotFigure,
    plot_call_timeline,
    plot_comparison,
    plot_durations,
    plot_reasons,
)
from catapult_nb.analysis.prompt_lab import PromptComparison, compare_prompts
from catapult_nb.analysis.tables import (
    COMPLETED_REASONS,
    OPTION_COLUMNS,
    REASONS,
    UNKNOWN_OPTIONS,
    EventSource,
    completion_rate,
    describe_options,
    digit_count_distribution,
    gather_table,
    outcomes_by_options,
    reason_counts,
    timeout_rate_by_options,
)
from catapult_nb.table_format import formatted

__all__ = [
    "COMPLETED_REASONS",
    "OPTION_COLUMNS",
    "REASONS",
    "UNKNOWN_OPTIONS",
    "EventSource",
    "PlotFigure",
    "PromptComparison",
    "compare_prompts",
    "completion_rate",
    "describe_options",
    "digit_count_distribution",
    "formatted",
    "gather_table",
    "outcomes_by_options",
    "plot_call_timeline",
    "plot_comparison",
    "plot_durations",
    "plot_reasons",
    "reason_counts",
    "timeout_rate_by_options",
]
