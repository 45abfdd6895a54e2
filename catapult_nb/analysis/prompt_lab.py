"""The prompt lab: how long prompts take to say, and what that means for a caller, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from catapult_nb.analysis.plots import PlotFigure
from catapult_nb.analysis.tables import is_missing, short_label
from catapult_nb.engine import GatherSpec
from catapult_nb.options import GatherOptions
from catapult_nb.table_format import formatted

__all__ = ["PromptComparison", "compare_prompts"]


class PromptComparison:
    """Prompts side by side: ``table`` (one row each) and :meth:`plot` (a bar chart); both show."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table  # words, seconds, wpm, firstUsefulKeyAt, timesOutAt, estimate, timing, voice

    def plot(self, ax: Axes | None = None) -> Figure:
        """One bar per prompt: the prompt's play, then the inter-digit wait of a caller who stays silent."""
        table = self.table
        fig: Figure
        if ax is None:
            fig = PlotFigure(figsize=(8, 1.6 + 0.55 * len(table)), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = cast(Figure, ax.get_figure(root=True))  # an Axes drawn on belongs to a figure
        y = np.arange(len(table))[::-1]
        ax.barh(y, table["seconds"], color="#4c72b0", label="prompt playing (keys barge in)")
        ax.barh(y, table["timesOutAt"] - table["seconds"], left=table["seconds"], color="#dd8452",
                alpha=0.45, label="inter-digit clock (a silent caller times out at its end)")
        for row, (_, item) in zip(y, table.iterrows(), strict=True):
            wpm = "" if is_missing(item["wpm"]) else f" · {item['wpm']:.0f} wpm"
            ax.text(item["seconds"], row, f" {item['seconds']:.1f} s{wpm}", va="center", fontsize="small")
        ax.set_yticks(y, [short_label(label, 36) for label in table.index])
        ax.set_xlabel("API seconds from the gather's creation")
        ax.set_title("Prompt length and when the first useful key can come")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)
        return fig

    def __repr__(self) -> str:
        return f"PromptComparison of {len(self.table)} prompts\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        import base64

        figure = self.plot()
        png = base64.b64encode(figure._repr_png_()).decode("ascii")  # type: ignore[attr-defined]
        table = formatted(self.table)._repr_html_()
        return f"<div><b>Prompts compared</b>{table}<img src='data:image/png;base64,{png}'/></div>"


def compare_prompts(prompts: Sequence[Any] | dict[str, Any], *, timing: str = "audio") -> PromptComparison:
    """How long each prompt takes to say, and what that means for a caller.

    Each prompt is a sentence, a :class:`~catapult_nb.options.Prompt`, a wire dict or a
    :class:`~catapult_nb.options.GatherOptions` (then its inter-digit timeout is used, else the API's 5 s).

    Columns: ``words``; ``seconds`` (one play, measured as the simulator measures it: the rendered audio,
    or the file's real length); ``wpm``; ``firstUsefulKeyAt`` — when a caller who waits for the end of
    the prompt can first usefully press a key, which is also when the inter-digit clock starts;
    ``timesOutAt`` — when a caller who says nothing times out; ``estimate`` (the 150 words-per-minute rule);
    ``timing`` (``audio``, ``estimate`` or ``file``) and ``voice`` (the espeak-ng voice that spoke it).

    :param prompts: a list of prompts (labelled by their sentence) or ``{label: prompt}``.
    :param timing: ``"audio"`` (default) or ``"estimate"``, as for the simulator.
    :returns: a :class:`PromptComparison`; ``.table`` is the DataFrame, ``.plot()`` the bar chart.
    :raises ValueError: for no prompts, or two with the same label.
    """
    from catapult_nb import prompts as tts

    named = list(prompts.items()) if isinstance(prompts, dict) else [(None, p) for p in prompts]
    if not named:
        raise ValueError("compare_prompts needs at least one prompt")
    rows = []
    for label, item in named:
        options = item if isinstance(item, GatherOptions) else None
        fields = tts.prompt_fields(item)
        sentence, file_url = fields.get("sentence"), fields.get("file_url")
        length = tts.measure(item, timing)
        words = len(sentence.split()) if sentence and sentence.strip() else np.nan
        spec = GatherSpec.from_options(options or GatherOptions(), length.seconds)
        voice = ""
        if length.kind == "speak" and length.timing == "audio":
            voice = tts.resolve_voice(fields.get("voice"), fields.get("locale"), fields.get("gender")).engine
        rows.append({
            "prompt": str(label) if label is not None
            else short_label(sentence or file_url or "(no prompt)", 60),
            "words": words,
            "seconds": length.seconds,
            "wpm": words / length.seconds * 60 if length.seconds and not is_missing(words) else np.nan,
            "firstUsefulKeyAt": length.seconds,
            "timesOutAt": spec.no_key_timeout_at,
            "estimate": tts.estimate(sentence) if sentence else np.nan,
            "timing": f"file not played: {length.reason}" if length.timing == "file" and length.reason
            else length.timing,
            "voice": voice,
        })
    table = pd.DataFrame(rows).set_index("prompt")
    if table.index.duplicated().any():
        raise ValueError("two prompts have the same label: pass a dict {label: prompt} with distinct labels")
    return PromptComparison(table.astype({"words": "Float64"}).astype({"words": "Int64"}))
