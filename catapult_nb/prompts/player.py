"""The players :func:`~catapult_nb.prompts.listen` shows: an IPython ``Audio`` with the measured length in
its label, or a note saying why there is nothing to hear.

Nothing autoplays (browsers block it, and a notebook that talks when opened is no fun).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from IPython.display import Audio

from catapult_nb.prompts.audio import AudioInfo

if TYPE_CHECKING:
    from catapult_nb.prompts.tts import Rendered

__all__ = ["Listen", "Unheard"]


class Listen(Audio):
    """An ``Audio`` player for a rendered sentence or a fetched file; ``duration`` is its length (s)."""

    def __init__(self, source: Rendered | tuple[bytes, AudioInfo]) -> None:
        if isinstance(source, tuple):
            data, info = source
            self.duration = info.duration
            self.caption = (
                f"<b>{info.duration:.1f} s played</b> · {info.format.upper()} file, {info.sample_rate} Hz"
            )
            mimetype = "audio/mpeg" if info.format == "mp3" else "audio/wav"
        else:
            data, self.duration, self.caption = source.wav, source.duration, source.caption
            mimetype = "audio/wav"
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
    """What ``catapult_nb.prompts.listen()`` shows when a prompt cannot be played: the reason, and how to
    fix it."""

    def __init__(self, reason: str, seconds: float = 0.0) -> None:
        self.reason = reason  # why there is nothing to hear
        self.duration = seconds  # the estimate used instead (0 for a file that cannot be played)

    def _repr_html_(self) -> str:
        timing = f" It is timed at {self.duration:.1f} s (150 words per minute)." if self.duration else ""
        return f'<div class="catapult-listen-missing">⚠ {html.escape(self.reason)}.{timing}</div>'

    def __repr__(self) -> str:
        return f"<Unheard: {self.reason}>"
