"""Hear a prompt in the notebook: an IPython ``Audio`` player with the measured length in its label.

Nothing autoplays (browsers block it, and a notebook that talks when opened is no fun). A file prompt is
embedded as its bytes, never as its URL, so a receiver's secret path cannot end up in a saved notebook.
"""

from __future__ import annotations

import html
from typing import Any

from IPython.display import Audio

from catapult_nb.prompts import espeak
from catapult_nb.prompts.audio import AudioError, AudioInfo
from catapult_nb.prompts.fetch import FETCH_TIMEOUT, download_audio_sync
from catapult_nb.prompts.timing import estimate, prompt_fields
from catapult_nb.prompts.tts import Rendered, render

__all__ = ["Listen", "Unheard", "listen"]


class Listen(Audio):
    """An ``Audio`` player for a rendered sentence or a fetched file; ``duration`` is its length (s)."""

    def __init__(self, source: Rendered | tuple[bytes, AudioInfo]) -> None:
        if isinstance(source, Rendered):
            data, self.duration, self.caption = source.wav, source.duration, source.caption
            mimetype = "audio/wav"
        else:
            data, info = source
            self.duration = info.duration
            self.caption = (
                f"<b>{info.duration:.1f} s played</b> · {info.format.upper()} file, {info.sample_rate} Hz"
            )
            mimetype = "audio/mpeg" if info.format == "mp3" else "audio/wav"
        super().__init__(data=data, autoplay=False)
        self.mimetype = mimetype

    @property
    def label(self) -> str:
        """The caption as plain text, e.g. ``"2.4 s spoken"``."""
        return f"{self.duration:.1f} s " + ("spoken" if "spoken" in self.caption else "played")

    def _repr_html_(self) -> str:
        return (
            f'<div class="catapult-listen" data-duration="{self.duration:.3f}">'
            f"<div>▶ {self.caption}</div>{super()._repr_html_()}</div>"
        )

    def __repr__(self) -> str:
        return f"<Listen {self.label}>"


class Unheard:
    """What :func:`listen` shows when a prompt cannot be played: the reason, and how to fix it."""

    def __init__(self, reason: str, seconds: float = 0.0) -> None:
        self.reason = reason  # why there is nothing to hear
        self.duration = seconds  # the estimate used instead (0 for a file that cannot be played)

    def _repr_html_(self) -> str:
        timing = f" It is timed at {self.duration:.1f} s (150 words per minute)." if self.duration else ""
        return f'<div class="catapult-listen-missing">⚠ {html.escape(self.reason)}.{timing}</div>'

    def __repr__(self) -> str:
        return f"<Unheard: {self.reason}>"


def listen(prompt: Any) -> Listen | Unheard:
    """A player for a prompt's sentence (rendered by espeak-ng) or its file (fetched and embedded).

    :param prompt: a :class:`~catapult_nb.options.Prompt`, :class:`~catapult_nb.options.GatherOptions`,
        a wire dict or a sentence.
    :returns: a :class:`Listen` player, or an :class:`Unheard` note saying why there is nothing to play
        (no prompt, espeak-ng missing, a file that cannot be fetched) — never an exception for those.
    """
    fields = prompt_fields(prompt)
    sentence, file_url = fields.get("sentence"), fields.get("file_url")
    if sentence and sentence.strip():
        try:
            return Listen(render(sentence, voice=fields.get("voice"), locale=fields.get("locale"),
                                 gender=fields.get("gender")))
        except espeak.EngineMissing as exc:
            return Unheard(str(exc), estimate(sentence))
    if file_url:
        try:
            data, info = download_audio_sync(file_url, timeout=FETCH_TIMEOUT)
        except AudioError as exc:
            return Unheard(f"the file is not played: {exc}")
        return Listen((data, info))
    return Unheard("there is no prompt to hear: give a sentence or a fileUrl")
