"""CallActions: the application's other requests on a call (speak, transfer, hang up), one button each."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.widgets._html import action_error

if TYPE_CHECKING:
    from catapult_nb.session import Call, Session

__all__ = ["CallActions"]


class CallActions(w.VBox):
    """Speak a sentence, transfer the call, or hang it up from the application's side, on the current call.

    The requests a v1 application makes besides a gather, as a request builder offers them. Every button
    is one line of Python: :meth:`speak` (``call.speak(sentence)``), :meth:`transfer`
    (``call.transfer(to)``), :meth:`hang_up` (``call.hang_up()``). The result line says what the API
    answered; the events (``speak``, the new leg's ``answer``, ``hangup``) arrive in the event table.
    """

    def __init__(self, session: Session, call: Call | None = None):
        self.session = session
        self.call = call
        self.sentence = w.Text("Thank you for calling.", description="speak",
                               layout=w.Layout(width="420px"))
        self.sentence.add_class("cnb-speak-sentence")
        self.speak_button = w.Button(description="Speak", icon="volume-up", layout=w.Layout(width="110px"))
        self.speak_button.add_class("cnb-speak")
        self.transfer_to = w.Text("+15550100999", description="transfer to", layout=w.Layout(width="420px"))
        self.transfer_to.add_class("cnb-transfer-to")
        self.transfer_button = w.Button(description="Transfer", icon="share", layout=w.Layout(width="110px"))
        self.transfer_button.add_class("cnb-transfer")
        self.hangup_button = w.Button(description="Hang up (app)", icon="phone", button_style="danger",
                                      layout=w.Layout(width="140px"), tooltip="the application hangs up")
        self.hangup_button.add_class("cnb-app-hangup")
        self.result = w.HTML("<i>no request yet</i>")
        self.result.add_class("cnb-action-result")
        self.speak_button.on_click(lambda _: self._clicked(self.speak, "spoke"))
        self.transfer_button.on_click(lambda _: self._clicked(self.transfer, "transferred"))
        self.hangup_button.on_click(lambda _: self._clicked(self.hang_up, "hung up"))
        super().__init__([
            w.HTML("<b>Other requests on the call</b>"),
            w.HBox([self.sentence, self.speak_button]),
            w.HBox([self.transfer_to, self.transfer_button]),
            self.hangup_button,
            self.result,
        ])
        self.add_class("cnb-call-actions")

    def set_call(self, call: Call | None) -> None:
        """Act on ``call`` from now on; the last call's result line goes."""
        self.call = call
        self.result.value = "<i>no request yet</i>"

    def _current(self) -> Call:
        if self.call is None:
            raise RuntimeError("no call: place a call first")
        return self.call

    def speak(self, sentence: str | None = None) -> None:
        """Speak ``sentence`` (default: the text box) on the current call: ``call.speak(sentence)``."""
        self._current().speak(sentence if sentence is not None else self.sentence.value)

    def transfer(self, to: str | None = None) -> Call:
        """Transfer the current call to ``to`` (default: the text box): ``call.transfer(to)``; returns the
        new leg."""
        return self._current().transfer(to if to is not None else self.transfer_to.value.strip())

    def hang_up(self) -> None:
        """The application hangs up the current call: ``call.hang_up()``."""
        self._current().hang_up()

    def _clicked(self, action: Callable[[], Any], done: str) -> None:
        try:
            outcome = action()
        except Exception as exc:  # shown on the result line; a click handler has nowhere else to report
            self.result.value = action_error(self.session, exc, "Not sent")
            return
        call = self._current()
        leg = f": the new leg is <code>{html.escape(outcome.id)}</code>" if done == "transferred" else ""
        self.result.value = (f"<span style='color:#1a7f37'>✔ {done} on <code>{html.escape(call.id)}</code>"
                             f"{leg}</span>")
