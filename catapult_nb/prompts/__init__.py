"""Prompts you can hear and time: offline text-to-speech, real audio files, and prompt timing.

The whole public surface is small::

    from catapult_nb import prompts

    spoken = prompts.render("Please enter your code, then press pound.", voice="paul", locale="en_US")
    spoken.wav, spoken.sample_rate, spoken.duration      # WAV bytes, Hz, seconds
    prompts.duration(Prompt(sentence="Hola", locale="es_MX"))   # seconds one play lasts
    prompts.listen(options)                               # an Audio player labelled "2.4 s spoken"
    prompts.decode(open("menu.wav", "rb").read())         # AudioInfo(format, duration, …)

Sentences are rendered by espeak-ng (its library and data come with the ``espeakng-loader`` wheel: no
download at run time). espeak-ng only approximates Catapult's voices — the mapping is in
``docs/voices.md`` — but its timing is close to what a caller waits through. Where it is missing,
:func:`~catapult_nb.prompts.timing.duration` says how to install it (once) and falls back to 150 words
per minute.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from catapult_nb.prompts.audio import AudioError, AudioInfo, decode
from catapult_nb.prompts.espeak import INSTALL_HINT, EngineMissing
from catapult_nb.prompts.fetch import MAX_AUDIO_BYTES, fetch_audio, fetch_audio_sync
from catapult_nb.prompts.timing import (
    PROMPT_TIMINGS,
    PromptLength,
    check_timing,
    describe_timing,
    duration,
    estimate,
    measure,
    prompt_fields,
)
from catapult_nb.prompts.tts import CacheInfo, Rendered, cache_clear, cache_info, engine_available, render
from catapult_nb.prompts.voices import EngineVoice, resolve_voice, voice_table

if TYPE_CHECKING:
    from catapult_nb.prompts.listen import Listen, Unheard, listen

__all__ = [
    "INSTALL_HINT",
    "MAX_AUDIO_BYTES",
    "PROMPT_TIMINGS",
    "AudioError",
    "AudioInfo",
    "CacheInfo",
    "EngineMissing",
    "EngineVoice",
    "Listen",
    "PromptLength",
    "Rendered",
    "Unheard",
    "cache_clear",
    "cache_info",
    "check_timing",
    "decode",
    "describe_timing",
    "duration",
    "engine_available",
    "estimate",
    "fetch_audio",
    "fetch_audio_sync",
    "listen",
    "measure",
    "prompt_fields",
    "render",
    "resolve_voice",
    "voice_table",
]


def __getattr__(name: str) -> Any:
    # The players are IPython objects: loaded on first use, so the simulator and the pytest plugin run
    # where IPython is not installed (the lean install).
    if name in ("Listen", "Unheard", "listen"):
        # import_module, not "from catapult_nb.prompts import listen", which would ask this function again;
        # importing the submodule sets the package's "listen" to the module, so all three are set after it
        players = import_module("catapult_nb.prompts.listen")
        for player in ("Listen", "Unheard", "listen"):
            globals()[player] = getattr(players, player)
        return globals()[name]
    raise AttributeError(f"module 'catapult_nb.prompts' has no attribute {name!r}")
