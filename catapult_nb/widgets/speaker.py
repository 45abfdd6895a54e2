"""Speaker: the virtual phone's earpiece, saying each prompt of the call aloud as the simulator plays it."""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.widgets._html import error_html
from catapult_nb.widgets._kernel import Coalescer

if TYPE_CHECKING:
    from catapult_nb.session import Call, Session

__all__ = ["Speaker"]

_SOUNDS = ("speak", "playback")


class Speaker(w.VBox):
    """Plays each prompt of the current call in the browser as the simulator starts it (simulated backend).

    The simulator keeps what it plays (``session.phone.prompts(call)``); each new sentence is rendered
    offline with the voice it was spoken with and handed to an ``<audio>`` player that starts by itself,
    as a phone would. A file prompt is named, not played (its URL is the receiver's secret). Untick
    *play prompts aloud* for silence; ``heard`` lists what was played.
    """

    def __init__(self, session: Session, call: Call | None = None):
        self.session = session
        self.call = call
        self.heard: list[str] = []  # the sentences played, oldest first
        self._seen = 0  # prompt entries of the call already handled
        self._lock = threading.Lock()
        self.enabled = w.Checkbox(True, description="play prompts aloud", indent=False,
                                  layout=w.Layout(width="188px"))
        self.enabled.add_class("cnb-speaker-on")
        self.caption = w.HTML("<small><i>silent</i></small>")
        self.caption.add_class("cnb-speaker-caption")
        self.player: w.Audio | None = None  # made on the first prompt: an empty player stalls Chromium
        self.player_box = w.Box()
        self.player_box.add_class("cnb-speaker")
        self._refresh_soon = Coalescer(self.refresh)
        session.store.add_listener(self._on_event)
        super().__init__([self.enabled, self.caption, self.player_box])
        self.add_class("cnb-speaker-panel")

    def set_call(self, call: Call | None) -> None:
        """Listen to ``call`` from now on."""
        with self._lock:
            self.call = call
            self._seen = 0
        self.caption.value = "<small><i>silent</i></small>"

    def refresh(self) -> None:
        """Play the newest prompt the simulator started on the call, if it has not been played yet."""
        call = self.call
        if call is None or self.session.closed:
            return
        try:
            rows = self.session.phone.prompts(call)
        except Exception as exc:  # the call is forgotten, the simulator stopped: say so, keep the kernel
            self.caption.value = error_html(f"cannot read the call's prompts: {exc}")
            return
        with self._lock:
            if call is not self.call:
                return
            fresh = rows.iloc[self._seen:]
            self._seen = len(rows)
        if not len(fresh) or not self.enabled.value:
            return
        self._play(fresh.iloc[-1])

    def _play(self, row: Any) -> None:
        from catapult_nb.prompts import render

        sentence = row.get("sentence")
        if not isinstance(sentence, str) or not sentence:
            name = row.get("file")
            self.caption.value = (f"<small>a file prompt: <code>{html.escape(str(name))}</code> "
                                  "(not played here)</small>")
            return
        voice = {k: row.get(k) for k in ("voice", "locale", "gender") if isinstance(row.get(k), str)}
        try:
            spoken = render(sentence, **voice)
        except Exception as exc:  # espeak-ng missing: the caption says how to install it
            self.caption.value = error_html(str(exc), "cannot speak")
            return
        if self.player is None:
            self.player = w.Audio(value=spoken.wav, format="wav", autoplay=True, loop=False, controls=True,
                                  layout=w.Layout(width="188px"))
        else:
            self.player.value = spoken.wav
        self.player_box.children = (self.player,)
        self.heard.append(sentence)
        self.caption.value = (f"<small class='cnb-speaker-now' data-seconds='{spoken.duration:.3f}'>▶ "
                              f"{html.escape(sentence)} ({spoken.duration:.1f} s)</small>")

    def _on_event(self, row: Any) -> None:
        call = self.call
        payload = row.get("payload") if isinstance(row, dict) else None
        if call is None or not isinstance(payload, dict):
            return
        if payload.get("callId") == call.id and payload.get("eventType") in _SOUNDS:
            self._refresh_soon()

    def close(self) -> None:
        self.session.store.remove_listener(self._on_event)
        super().close()
