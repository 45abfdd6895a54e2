"""From Catapult v1 to Bandwidth's Voice API v2 without surprises: a port that keeps behaviour, and its proof.

::

    from catapult_nb import migrate

    port = migrate.gather({"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7"})
    print(port.bxml)               # the v2 <Gather> that behaves like the v1 gather
    port.differences               # what v2 cannot keep, and what the app must do instead
    migrate.compare(options)       # the same callers through v1 and the naive port: who is affected
    migrate.compare(options, port) # ... and through the port: nobody
    migrate.v1_reason(webhook, options)   # v1's reason read back from a v2 gather webhook

A gather's port lives in :mod:`catapult_nb.gather_port` (:func:`gather`, :func:`naive`, :func:`from_bxml`,
:func:`v1_reason`: the snippets' v2 BXML is built there too), a flow's in :mod:`catapult_nb.flows.port`
(:func:`flow`); this module brings them together with :func:`compare`, which plays the same callers
through both dialects. The story is in ``docs/migration.md``.

:func:`compare` plays the same synthetic callers through the v1 app and its v2 port. It draws the callers
once, by the v1 gather (what they were taught to press: the caller who ends with ``#`` keeps pressing
``#``), and plays each caller's timeline on both dialects' rules in the one engine
(:mod:`catapult_nb.engine_vectorised`). A caller is *changed* when the two differ in the digits, in the end
reason as :func:`v1_reason` reads v2's webhook, or, for a flow, in the path through the steps or the
outcome. A hang-up compares by reason only: v1's event carried the digits so far, v2 sends none (a
difference every port lists, not a change of what the caller did).

Each changed caller's ``why`` names the rule that parted them at the first gather where the dialects
disagreed: a terminating key only one dialect has, a first key later than one dialect's wait, more keys
than one dialect's ``maxDigits``, a gap between keys longer than one dialect's ``interDigitTimeout``, or a
hang-up while only one dialect was still gathering.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catapult_nb import engine_vectorised as vectorised
from catapult_nb.campaign.callers import MAX_N, check_int, coerce_callers
from catapult_nb.campaign.flow_engine import FlowCampaignResult, run_on_engine
from catapult_nb.campaign.plans import Plan, Timelines, build_timelines, draw
from catapult_nb.engine import GatherSpec, Reason
from catapult_nb.flows.flow import Flow
from catapult_nb.flows.port import FlowMigration, flow
from catapult_nb.gather_port import GATHER_URL, Difference, Migration, from_bxml, gather, naive, v1_reason
from catapult_nb.options import GatherOptions

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CHANGED_COLUMNS", "GATHER_URL", "MAX_WIRE", "Difference", "FlowMigration", "Migration",
    "MigrationComparison", "compare", "flow", "from_bxml", "gather", "naive", "v1_reason", "why",
]

#: Columns of :attr:`MigrationComparison.changed` for a gather (a flow's: ``caller``, ``callerType``,
#: ``v1_path``, ``v2_path``, ``v1_outcome``, ``v2_outcome``, ``step``, ``why``).
CHANGED_COLUMNS = ("caller", "callerType", "v1_digits", "v1_reason", "v2_digits", "v2_reason", "why")
_TERM, _TIMEOUT, _HUNG = (vectorised.REASONS.index(r) for r in
                          (Reason.TERMINATING_DIGIT, Reason.INTER_DIGIT_TIMEOUT, Reason.HUNG_UP))
_MAX = vectorised.REASONS.index(Reason.MAX_DIGITS)
_CHUNK = 1 << 17
#: The most callers ``compare(..., over_the_wire=True)`` plays (each is two real calls).
MAX_WIRE = 2_000


def read_reasons(spec: GatherSpec, keys: np.ndarray, outcome: vectorised.VectorOutcome) -> np.ndarray:
    """Each caller's end reason as :func:`~catapult_nb.migrate.v1_reason` reads the webhook the dialect
    sends (v1: its own reason; v2: ``terminatingDigit``, then ``len(digits) == maxDigits``, a
    ``disconnect`` for a hang-up), as codes into :data:`~catapult_nb.engine_vectorised.REASONS`."""
    if spec.rules.reports_reason:
        return outcome.reason.astype(np.int8)
    ended_by = vectorised.terminating_keys(keys, outcome)
    read = np.where(ended_by != "", _TERM, np.where(outcome.n_digits >= spec.max_digits, _MAX, _TIMEOUT))
    return np.where(vectorised.has_result(spec, outcome), read, _HUNG).astype(np.int8)


def why(v1: GatherSpec, v2: GatherSpec, times: np.ndarray, keys: np.ndarray, a: vectorised.VectorOutcome,
        b: vectorised.VectorOutcome) -> np.ndarray:
    """Why each caller's gather went differently under ``v1`` and ``v2`` (both played on the same
    ``times``/``keys``; ``a`` and ``b`` their outcomes): the first rule, in words, that parts them."""
    n = len(a.reason)
    rows = np.arange(n)
    out = np.full(n, "another rule of the two dialects", dtype=object)
    decided = np.zeros(n, dtype=bool)

    def mark(where: np.ndarray, text: Any) -> None:
        nonlocal decided
        new = where & ~decided
        out[new] = text[new] if isinstance(text, np.ndarray) else text
        decided |= new

    width = keys.shape[1]
    ender_a = keys[rows, np.minimum(a.n_digits, width - 1)] if width else np.zeros(n, dtype=np.uint8)
    ender_b = keys[rows, np.minimum(b.n_digits, width - 1)] if width else np.zeros(n, dtype=np.uint8)
    only_v1 = np.array([chr(k) not in v2.terminating_digits for k in ender_a.tolist()], dtype=bool)
    only_v2 = np.array([chr(k) not in v1.terminating_digits for k in ender_b.tolist()], dtype=bool)
    key_a = np.array([chr(k) for k in ender_a.tolist()], dtype=object)
    key_b = np.array([chr(k) for k in ender_b.tolist()], dtype=object)
    tail2 = f"v2's terminatingDigits is {v2.terminating_digits!r}" if v2.terminating_digits else \
        "v2 has no terminating key"
    mark((a.reason == _TERM) & only_v1,
         "'" + key_a + f"' ends the gather on v1; on v2 it is a digit ({tail2})")
    mark((b.reason == _TERM) & only_v2, "'" + key_b + "' ends the gather on v2 only")
    first = times[:, 0] if width else np.full(n, np.nan)
    wait1, wait2 = _first_wait(v1), _first_wait(v2)
    mark((b.n_digits == 0) & (b.reason == _TIMEOUT) & ~np.isnan(a.first_key_at) & (first > b.completed_at),
         f"first key later than v2's wait ({wait2}), within v1's ({wait1})")
    mark((a.n_digits == 0) & (a.reason == _TIMEOUT) & ~np.isnan(b.first_key_at) & (first > a.completed_at),
         f"first key later than v1's wait ({wait1}), within v2's ({wait2})")
    mark((a.reason == _MAX) & (b.n_digits > a.n_digits),
         f"more than {v1.max_digits} keys: v1 stops at maxDigits {v1.max_digits}, v2 at {v2.max_digits}")
    mark((b.reason == _MAX) & (a.n_digits > b.n_digits),
         f"more than {v2.max_digits} keys: v2 stops at maxDigits {v2.max_digits}, v1 at {v1.max_digits}")
    mark((a.reason == _TIMEOUT) & (b.n_digits > a.n_digits),
         f"a gap between keys longer than v1's interDigitTimeout ({v1.inter_digit_timeout:g} s), within "
         f"v2's ({v2.inter_digit_timeout:g} s)")
    mark((b.reason == _TIMEOUT) & (a.n_digits > b.n_digits),
         f"a gap between keys longer than v2's interDigitTimeout ({v2.inter_digit_timeout:g} s), within "
         f"v1's ({v1.inter_digit_timeout:g} s)")
    mark((a.reason == _HUNG) != (b.reason == _HUNG), "hung up while only one dialect was still gathering")
    return out


def _first_wait(spec: GatherSpec) -> str:
    plays = f" × {spec.repeat_count} plays" if spec.repeat_count > 1 else ""
    name = "firstDigitTimeout" if spec.first_digit_timeout is not None else "interDigitTimeout"
    return f"{name} {spec.first_key_timeout:g} s after the prompt{plays}"


class MigrationComparison:
    """The callers through v1 and v2 (see :func:`compare`).

    :ivar changed: one row per caller whose outcome differs, with ``why``.
    :ivar n: callers compared; ``seed``: their seed.
    :ivar port: the v2 side (a :class:`~catapult_nb.migrate.Migration` or
        :class:`~catapult_nb.migrate.FlowMigration`).
    """

    def __init__(self, subject: str, port: Migration | FlowMigration, changed: pd.DataFrame, n: int,
                 seed: int, wire: pd.DataFrame | None = None) -> None:
        self.subject = subject
        self.port = port
        self.changed = changed
        self.n = n
        self.seed = seed
        #: over the wire: one row per caller, the engine's and the simulator's digits and reason on each
        #: dialect, whether they agree, and ``close``: a hang-up within 250 wall ms of a key or a
        #: deadline (the timelines keep keys and gaps that clear of both dialects' waits)
        self.wire = wire

    def agreement(self) -> str:
        """Over the wire: how many callers the simulator played as the engine did, on each dialect."""
        if self.wire is None:
            return "played on the engine only (over_the_wire=True plays them on the simulator too)"
        wire, n = self.wire, len(self.wire)
        v1, v2, close = (int(wire[c].sum()) for c in ("v1_agrees", "v2_agrees", "close"))
        return (f"over the wire: v1 agreed with the engine for {v1} of {n} callers, v2 for {v2} of {n} "
                f"({close} hung up within 250 wall ms of a key or a deadline, where the wire's delays "
                "may decide)")

    def summary(self) -> pd.DataFrame:
        """Changed callers counted by ``why``, most first, with their share of all callers."""
        counts = self.changed["why"].value_counts()
        return pd.DataFrame({"callers": counts.astype("int64"), "share": counts / self.n}).rename_axis("why")

    def plot(self) -> Figure:
        """Changed callers by why, as horizontal bars (an empty chart says nobody changed)."""
        import matplotlib.pyplot as plt

        summary = self.summary()
        fig, ax = plt.subplots(figsize=(8, 0.8 + 0.5 * max(len(summary), 1)))
        labels = [_wrap(str(w)) for w in summary.index]
        ax.barh(labels, summary["callers"], color="#ef5350")
        ax.invert_yaxis()
        ax.set_xlabel(f"callers of {self.n:,} (seed {self.seed})")
        ax.set_title(f"{self.subject}: {len(self.changed):,} callers changed by the port")
        if summary.empty:
            ax.text(0.5, 0.5, "no caller changed", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def __repr__(self) -> str:
        kind = "the port that keeps behaviour" if self.port.kept else "a naive port"
        head = (f"MigrationComparison({self.subject}, {kind}: {len(self.changed):,} of {self.n:,} callers "
                f"changed ({len(self.changed) / self.n:.2%}))")
        lines = [head] + [f"  {int(row.callers):>7,}  {w}" for w, row in self.summary().iterrows()]
        if self.wire is not None:
            lines.append(f"  {self.agreement()}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(repr(self).splitlines()[0])}</b>{self.summary().to_html()}"
                f"{self.changed.head(10).to_html(index=False)}</div>")


def _wrap(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def compare(v1: Any, v2: Any = None, n: int = 10_000, seed: int = 0, *, callers: Any = None,
            over_the_wire: bool = False, speed: float = 4.0, concurrency: int = 16) -> MigrationComparison:
    """Play the same synthetic callers through the v1 app and its v2 port, and list who changed.

    :param v1: the v1 gather (``GatherOptions`` or a wire dict) or a :class:`~catapult_nb.flows.Flow`.
    :param v2: the v2 side. For a gather: a :class:`~catapult_nb.migrate.Migration`, the v2 BXML text, or
        None for the naive port (:func:`~catapult_nb.migrate.naive`). For a flow: a
        :class:`~catapult_nb.migrate.FlowMigration` or None (``migrate.flow(flow, naive=True)``).
    :param n: how many callers; ``seed``: the same seed gives the same people.
    :param callers: who calls (as for :func:`catapult_nb.campaign.run_campaign`; default its mix).
    :param over_the_wire: also play every caller over real HTTP on a private simulator (at ``speed``,
        ``concurrency`` callers at once), v1 through the gather and v2 through its ``<Gather>``; ``.changed``
        is then what the wire showed and ``.wire`` ties each caller to the engine (a gather, up to
        :data:`MAX_WIRE` callers).
    :returns: a :class:`MigrationComparison`.
    :raises TypeError: a ``v2`` that does not fit ``v1``; ValueError for ``n`` or ``seed`` out of range.
    """
    check_int("n", n, 1, MAX_N)
    check_int("seed", seed, 0, None)
    if isinstance(v1, Flow):
        if v2 is None:
            v2 = FlowMigration(v1, kept=False)
        if not isinstance(v2, FlowMigration):
            raise TypeError(
                f"a flow compares with a FlowMigration (migrate.flow(flow)), got {type(v2).__name__}")
        if over_the_wire:
            raise ValueError("over_the_wire=True compares one gather; for a flow, compare on the engine and "
                             "run flow.check(Session.simulated(api='v2')) for its cases on the wire")
        return _compare_flow(v1, v2, n, seed, callers)
    options = GatherOptions.coerce(dict(v1) if isinstance(v1, Mapping) else v1)
    if v2 is None:
        v2 = naive(options)
    elif isinstance(v2, (str, bytes)):
        v2 = from_bxml(v2 if isinstance(v2, str) else v2.decode("utf-8"), options)
    elif not isinstance(v2, Migration):
        raise TypeError(f"v2 must be a Migration (migrate.gather(options)), BXML text or None, got "
                        f"{type(v2).__name__}")
    if over_the_wire:
        check_int("n", n, 1, MAX_WIRE)
        return _compare_over_the_wire(options, v2, n, seed, callers, speed, concurrency)
    return _compare_gather(options, v2, n, seed, callers)


def _compare_gather(options: GatherOptions, port: Migration, n: int, seed: int, callers: Any
                    ) -> MigrationComparison:
    spec1 = GatherSpec.from_options(options)  # the prompt's estimate, the same length on both sides
    spec2 = port.spec(spec1.prompt_seconds)
    mix = coerce_callers(callers)
    draws = draw(mix, n, seed)
    lines = build_timelines(draws, spec1, 0.0)  # the people, as the v1 app taught them
    names = np.array([c.name for c, _ in mix.parts], dtype=object)
    parts = []
    for low in range(0, n, _CHUNK):
        part = slice(low, low + _CHUNK)
        times, keys = lines.times[part], lines.keys[part]
        a = vectorised.play(spec1, times, keys, lines.count[part], lines.hang_ups[part])
        b = vectorised.play(spec2, times, keys, lines.count[part], lines.hang_ups[part])
        reason1, reason2 = read_reasons(spec1, keys, a), read_reasons(spec2, keys, b)
        both_hung = (reason1 == _HUNG) & (reason2 == _HUNG)
        # both took a prefix of the same keys: their digits differ exactly when their counts do
        changed = (reason1 != reason2) | ((a.n_digits != b.n_digits) & ~both_hung)
        at = np.flatnonzero(changed)
        if not len(at):
            continue
        digits1 = vectorised.digit_strings(keys[at], a.n_digits[at])
        digits2 = vectorised.digit_strings(keys[at], b.n_digits[at])
        sub = _take(a, at), _take(b, at)
        reasons = np.array([r.value for r in vectorised.REASONS], dtype=object)
        parts.append(pd.DataFrame({
            "caller": at + low, "callerType": names[draws.kind[part][at]],
            "v1_digits": digits1.astype(object), "v1_reason": reasons[reason1[at]],
            "v2_digits": np.where(reason2[at] == _HUNG, "", digits2).astype(object),
            "v2_reason": reasons[reason2[at]],
            "why": why(spec1, spec2, times[at], keys[at], *sub),
        }))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(CHANGED_COLUMNS))
    return MigrationComparison("a gather", port, table, n, seed)


def _take(outcome: vectorised.VectorOutcome, at: np.ndarray) -> vectorised.VectorOutcome:
    return vectorised.VectorOutcome(*(field[at] for field in outcome))


def _compare_flow(flow: Flow, port: FlowMigration, n: int, seed: int, callers: Any) -> MigrationComparison:
    def play_under(rules: Any, observe: Any = None) -> FlowCampaignResult:
        return run_on_engine(flow, callers, n, seed, progress=False, margin=0.0, one_by_one=False,
                             rules=rules, observe=observe)

    first_step = np.full(n, "", dtype=object)
    first_why = np.full(n, "", dtype=object)

    def v2_spec(name: str, step: Any, sentence: str | None) -> GatherSpec:
        seconds = GatherSpec.from_options(step.gather_options(sentence)).prompt_seconds
        return port.spec(name, step, sentence, seconds)

    def observe(name: str, group: np.ndarray, spec: GatherSpec, prompt: np.ndarray, times: np.ndarray,
                keys: np.ndarray, count: np.ndarray, hang_up: np.ndarray, a: vectorised.VectorOutcome
                ) -> None:
        # the same gather under v2's rules, on the same timelines: the first place they part, and why
        spec2 = port.spec(name, _step(flow, name), None, float(prompt[0]) if len(prompt) else 0.0)
        b = vectorised.play(spec2, times, keys, count, hang_up, prompt_seconds=prompt)
        # both took a prefix of the same keys: their digits differ exactly when their counts do
        hung_a, hung_b = a.reason == _HUNG, b.reason == _HUNG
        parted = (hung_a != hung_b) | ((a.n_digits != b.n_digits) & ~hung_a)
        new = parted & (first_step[group] == "")
        if new.any():
            at = np.flatnonzero(new)
            first_step[group[at]] = name
            first_why[group[at]] = why(spec, spec2, times[at], keys[at], _take(a, at), _take(b, at))

    one = play_under(None, observe=observe).table
    # Draws depend on (seed, caller, step, visit) alone and routes on digits alone: where no gather parted,
    # the v2 run is the v1 run step for step, and need not be played again.
    two = play_under(v2_spec).table if (first_step != "").any() else one
    changed = (one["path"].to_numpy() != two["path"].to_numpy()) | (
        one["outcome"].to_numpy() != two["outcome"].to_numpy())
    at = np.flatnonzero(changed)
    whys = np.where(first_step[at] == "", "another rule of the two dialects",
                    "at " + first_step[at].astype(str) + ": " + first_why[at].astype(str))
    table = pd.DataFrame({
        "caller": at, "callerType": one["callerType"].to_numpy()[at],
        "v1_path": one["path"].to_numpy()[at], "v2_path": two["path"].to_numpy()[at],
        "v1_outcome": one["outcome"].to_numpy()[at], "v2_outcome": two["outcome"].to_numpy()[at],
        "step": first_step[at], "why": whys.astype(object),
    })
    return MigrationComparison(f"flow {flow.name!r}", port, table, n, seed)


def _step(flow: Flow, name: str) -> Any:
    return flow.steps[name]


def _compare_over_the_wire(options: GatherOptions, port: Migration, n: int, seed: int, callers: Any,
                           speed: float, concurrency: int) -> MigrationComparison:
    from catapult_nb.campaign.v2_wire import play_both

    spec1 = GatherSpec.from_options(options)  # the simulator times prompts by the same estimate
    spec2 = port.spec(spec1.prompt_seconds)
    mix = coerce_callers(callers)
    draws = draw(mix, n, seed)
    # keys and gaps 250 wall ms clear of both dialects' waits: a busy machine's delays decide neither
    margin = min(0.25 * speed, spec1.inter_digit_timeout / 2)
    lines = _clear_of(build_timelines(draws, spec1, margin), spec1, spec2, margin)
    a = vectorised.play(spec1, lines.times, lines.keys, lines.count, lines.hang_ups)
    b = vectorised.play(spec2, lines.times, lines.keys, lines.count, lines.hang_ups)
    reasons = np.array([r.value for r in vectorised.REASONS], dtype=object)
    reason1, reason2 = read_reasons(spec1, lines.keys, a), read_reasons(spec2, lines.keys, b)
    digits1 = vectorised.digit_strings(lines.keys, a.n_digits).tolist()
    digits2 = np.where(reason2 == _HUNG, "", vectorised.digit_strings(lines.keys, b.n_digits)).tolist()
    engine1 = list(zip(digits1, reasons[reason1].tolist(), strict=True))
    engine2 = list(zip(digits2, reasons[reason2].tolist(), strict=True))
    wire1, wire2 = play_both(options, port, _plan(lines), speed=speed,
                             concurrency=concurrency, timeout=max(30.0, 4 * spec1.inter_digit_timeout))
    names = np.array([c.name for c, _ in mix.parts], dtype=object)
    wire = pd.DataFrame({
        "caller": np.arange(n), "callerType": names[draws.kind],
        "v1_digits": [d for d, _ in wire1], "v1_reason": [r for _, r in wire1],
        "v1_engine": [f"{r} {d!r}" for d, r in engine1],
        "v2_digits": [d for d, _ in wire2], "v2_reason": [r for _, r in wire2],
        "v2_engine": [f"{r} {d!r}" for d, r in engine2],
        "v1_agrees": [w == e for w, e in zip(wire1, engine1, strict=True)],
        "v2_agrees": [w == e for w, e in zip(wire2, engine2, strict=True)],
        "close": _close_to(spec2, lines, 0.99 * margin) | _close_to(spec1, lines, 0.99 * margin),
    })
    hung = (wire["v1_reason"] == Reason.HUNG_UP.value) & (wire["v2_reason"] == Reason.HUNG_UP.value)
    differs = (wire["v1_reason"] != wire["v2_reason"]) | ((wire["v1_digits"] != wire["v2_digits"]) & ~hung)
    at = np.flatnonzero(differs.to_numpy())
    table = wire.loc[at, ["caller", "callerType", "v1_digits", "v1_reason", "v2_digits", "v2_reason"]]
    table = table.reset_index(drop=True)
    table["why"] = (why(spec1, spec2, lines.times[at], lines.keys[at], _take(a, at), _take(b, at))
                    if len(at) else [])
    return MigrationComparison("a gather over the wire", port, table, n, seed, wire=wire)


def _close_to(spec: GatherSpec, lines: Any, margin: float) -> np.ndarray:
    """Per caller: the first key, a gap between keys or the hang-up within ``margin`` API seconds of the
    wait ``spec`` puts there, where the wire's milliseconds of delay could decide."""
    gap = spec.inter_digit_timeout
    first_wait = spec.first_digit_timeout if spec.first_digit_timeout is not None else gap
    prompt = spec.prompt_seconds
    close = np.zeros(len(lines.count), dtype=bool)

    def near(value: float, point: float) -> bool:
        return bool(abs(value - point) < margin)

    for i, count in enumerate(lines.count.tolist()):
        times = lines.times[i, :count].tolist()
        firsts = [prompt + first_wait * k for k in range(1, spec.repeat_count + 1)]
        hit = bool(times) and times[0] >= prompt and any(near(times[0], f) for f in firsts)
        hit = hit or any(near(b - a, gap) for a, b in itertools.pairwise(times))
        hang = float(lines.hang_ups[i])
        if not np.isnan(hang):
            before = [t for t in times if t <= hang]
            waits = [before[-1] + gap] if before else firsts
            hit = hit or any(near(hang, t) for t in times) or any(near(hang, w) for w in waits)
        close[i] = hit
    return close


def _away(values: np.ndarray, point: float, margin: float) -> np.ndarray:
    near = np.abs(values - point) < margin
    return np.where(near, np.where(values < point, point - margin, point + margin), values)


def _clear_of(lines: Timelines, spec1: GatherSpec, spec2: GatherSpec, margin: float) -> Timelines:
    """The timelines with each first key (after the prompt) and each gap between keys ``margin`` clear of
    both dialects' waits, so that the wire's delays decide neither side (hang-ups stay as they are)."""
    prompt = spec1.prompt_seconds
    v2_wait = spec2.first_digit_timeout
    first_waits = [spec1.inter_digit_timeout, v2_wait if v2_wait is not None else spec2.inter_digit_timeout]
    gaps_waits = [spec1.inter_digit_timeout, spec2.inter_digit_timeout]
    first, gaps = lines.times[:, 0], np.diff(lines.times, axis=1)
    after = first - prompt
    for _ in range(3):  # two windows that overlap push a value to the far side of both
        for wait in first_waits:
            after = np.where(first >= prompt, _away(after, wait, margin), after)
        for wait in gaps_waits:
            gaps = _away(gaps, wait, margin)
    start = np.where(first >= prompt, prompt + after, first)
    times = np.concatenate([start[:, None], start[:, None] + np.cumsum(gaps, axis=1)], axis=1)
    return dataclasses.replace(lines, times=times)


def _plan(lines: Timelines) -> Plan:
    """The wire driver's plan of ``lines``."""
    width = lines.keys.shape[1]
    raw = lines.keys.tobytes().decode("ascii")
    keys = [raw[i * width: i * width + k] for i, k in enumerate(lines.count.tolist())]
    hang_ups: list[float | None] = [None if h != h else h for h in lines.hang_ups.tolist()]
    return Plan(lines.times.tolist(), keys, hang_ups, lines.intended().tolist())
