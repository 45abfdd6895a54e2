"""Catapult v1's text-to-speech voices, and the espeak-ng voices that stand in for them.

The table is the one documented in ``docs/voices.md``. espeak-ng is a formant synthesiser: it sounds
robotic and nothing like the voices Catapult used. What it does give is a sentence's *length* close to
what a phone caller waits through, in the right language, with a female or male pitch, and a different
espeak-ng variant for each v1 voice so two voices of one language can be told apart.
"""

from __future__ import annotations

from typing import NamedTuple

from catapult_nb.options import LANGUAGE_OF_LOCALE, LOCALES, VOICES, check_gender, check_locale, check_voice

__all__ = [
    "DEFAULT_VOICE", "ENGINE_LANGUAGE", "ENGINE_VARIANT", "EngineVoice", "resolve_voice", "voice_table",
]

#: espeak-ng language for each v1 locale (lower case); Mexican Spanish is espeak-ng's Latin American.
ENGINE_LANGUAGE: dict[str, str] = {
    "en_us": "en-us",
    "en_uk": "en",  # espeak-ng's "en" is British English
    "es": "es",
    "es_mx": "es-419",
    "fr": "fr",
    "fr_fr": "fr",
    "de": "de",
    "de_de": "de",
    "it": "it",
    "it_it": "it",
}

#: espeak-ng variant (voice quality and pitch) for each v1 voice.
ENGINE_VARIANT: dict[str, str] = {
    "susan": "f3",
    "kate": "f2",
    "julie": "f4",
    "paul": "m3",
    "dave": "m1",
    "bridget": "f3",
    "simon": "m3",
    "esperanza": "f3",
    "violeta": "f2",
    "jorge": "m3",
    "jolie": "f3",
    "bernard": "m3",
    "katrin": "f3",
    "stefan": "m3",
    "paola": "f3",
    "luca": "m3",
}

#: The API's defaults when a prompt names none of voice, locale and gender.
DEFAULT_VOICE = ("susan", "en_US", "female")

assert set(ENGINE_LANGUAGE) == set(LANGUAGE_OF_LOCALE) and set(ENGINE_VARIANT) == set(VOICES)


class EngineVoice(NamedTuple):
    """A v1 voice resolved to the espeak-ng voice that renders it."""

    voice: str  # v1 voice name, lower case ("susan")
    locale: str  # v1 locale, canonical spelling ("en_US")
    gender: str  # "female" or "male"
    engine: str  # espeak-ng voice name with its variant ("en-us+f3")


def _canonical_locale(locale: str) -> str:
    return next(loc for loc in LOCALES if loc.lower() == locale.lower())


def resolve_voice(
    voice: str | None = None, locale: str | None = None, gender: str | None = None
) -> EngineVoice:
    """Pick the espeak-ng voice for a v1 voice, locale and gender (each optional, case-insensitive).

    The **locale** sets the language (default ``en_US``; when only a voice is given, that voice's locale).
    The **voice** sets the variant; without one, the locale's first voice of ``gender`` (default female)
    is used, so ``gender="male"`` in ``es_MX`` speaks as jorge. A voice and gender that disagree are
    accepted, as the API accepts them, and the voice wins: it names one speaker.

    :param voice: a v1 voice name from reference §8, e.g. ``"Paul"``.
    :param locale: a v1 locale, e.g. ``"es_MX"``.
    :param gender: ``"female"`` or ``"male"``.
    :returns: the resolved :class:`EngineVoice`.
    :raises catapult_nb.options.OptionError: for an unknown voice, locale or gender (the API's message).
    """
    voice = check_voice(voice).lower() if voice is not None else None
    locale = _canonical_locale(check_locale(locale)) if locale is not None else None
    gender = check_gender(gender).lower() if gender is not None else None
    if locale is None:
        locale = VOICES[voice][0] if voice else DEFAULT_VOICE[1]
    if voice is None:
        language = LANGUAGE_OF_LOCALE[locale.lower()]
        wanted = gender or DEFAULT_VOICE[2]
        voice = next(
            name for name, (loc, sex) in VOICES.items()
            if LANGUAGE_OF_LOCALE[loc.lower()] == language and sex == wanted
        )
    gender = VOICES[voice][1]
    engine = f"{ENGINE_LANGUAGE[locale.lower()]}+{ENGINE_VARIANT[voice]}"
    return EngineVoice(voice, locale, gender, engine)


def voice_table() -> list[dict[str, str]]:
    """One row per v1 voice: its locale, gender and the espeak-ng voice it is rendered with."""
    return [
        {"voice": name, "locale": loc, "gender": sex, "engine": resolve_voice(name, loc).engine}
        for name, (loc, sex) in VOICES.items()
    ]
