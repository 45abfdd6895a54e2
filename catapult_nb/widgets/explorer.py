"""Explorer: the whole gather workflow in one dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from catapult_nb.widgets._kernel import Coalescer
from catapult_nb.widgets.actions import CallActions
from catapult_nb.widgets.form import GatherForm
from catapult_nb.widgets.history import CallHistory
from catapult_nb.widgets.inspector import CallbackInspector
from catapult_nb.widgets.live import EventTable, GatherCountdown, Keypad, SessionPanel

if TYPE_CHECKING:
    from catapult_nb.session.session import Call, Gather, Session

__all__ = ["Explorer"]


class Explorer(w.VBox):
    """Session panel, gather form, the call's other requests, keypad, countdown, live events and the
    call log, wired together.

    ``Explorer(Session.simulated())``: place a call, fill in the form, Send, press keys, and watch the
    gather event arrive; Stop, Speak, Transfer or Hang up as an application would. Each part is also
    usable alone (``explorer.form``, ``explorer.actions``, ``explorer.keypad``, ``explorer.inspector``,
    ``explorer.history``, …). The form's dialect follows the session's (``session.api``): on a v2 session
    it previews and sends the BXML ``<Gather>``; its "v2 BXML" button shows that document on a v1 session
    too.
    """

    def __init__(self, session: Session, to: str = "+15551234567"):
        self.session = session
        self.panel = SessionPanel(session, to=to)
        self.form = GatherForm(session)
        self.countdown = GatherCountdown(session)
        self.events = EventTable(session)
        self.actions = CallActions(session)
        self.history = CallHistory(session)
        self.inspector = CallbackInspector(session)
        parts: list[w.Widget] = [w.VBox([self.form, self.actions], layout=w.Layout(flex="0 0 auto"))]
        side: list[w.Widget] = [self.countdown]
        self.keypad: Keypad | None = None
        if session.backend == "simulated":
            self.keypad = Keypad(session)
            self.keypad.on_press(self.countdown.key_pressed)
            side.insert(0, self.keypad)
        else:
            side.insert(0, w.HTML("<b>Press the keys on the phone you called.</b>"))
        self.panel.on_call(self._call_placed)
        self.form.on_sent(self._gather_sent)
        self._panel_refresh = Coalescer(self._refresh)
        session.store.add_listener(lambda _event: self._panel_refresh())
        # 700 px form + 16 + 244 fits the notebook's 968 px in a 1400 px window with the file browser open.
        parts.append(w.VBox(side, layout=w.Layout(margin="0 0 0 16px", width="244px", flex="0 0 auto")))
        # What arrived, three ways, in tabs (one under the other, the dashboard ran past a screen's height):
        # the events, each callback request beside the receiver's answer, and the call log.
        self.tabs = w.Tab([self.events, self.inspector, self.history],
                          titles=("Events", "Callbacks", "Calls"))
        self.tabs.add_class("cnb-explorer-tabs")
        super().__init__([self.panel, w.HBox(parts), self.tabs])
        self.add_class("cnb-explorer")

    def _refresh(self) -> None:
        self.panel.refresh()
        self.form.refresh_result()

    def _call_placed(self, call: Call) -> None:
        # Everything about the last call goes: its result line, its gather clock, its keys.
        self.form.set_call(call)
        self.actions.set_call(call)
        self.countdown.reset()
        if self.keypad is not None:
            self.keypad.set_call(call)

    def _gather_sent(self, gather: Gather) -> None:
        self.countdown.start(gather)
