"""Hear a prompt in the notebook: an IPython ``Audio`` player with the measured length in its label
(:mod:`catapult_nb.prompts.player`).

A file prompt is embedded as its bytes, never as its URL, so a receiver's secret path cannot end up in a
saved notebook.
"""

from __future__ import annotations

from typing import Any

from catapult_nb.engine import estimate
from catapult_nb.prompts import espeak
from catapult_nb.prompts.audio import AudioError
from catapult_nb.prompts.fetch import FETCH_TIMEOUT, download_audio_sync
from catapult_nb.prompts.player import Listen, Unheard
from catapult_nb.prompts.timing import prompt_fields
from catapult_nb.prompts.tts import render

__all__ = ["Listen", "Unheard", "listen"]


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
