"""FlowPlayer: play a call flow by hand — the diagram with the current step lit, a keypad, the
transcript growing as the call goes."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.flows.diagram import MERMAID_MIMETYPE
from catapult_nb.flows.transcript import conversation_html
from catapult_nb.widgets._html import CLOSED, action_error, error_html
from catapult_nb.widgets._kernel import Coalescer, call_in_kernel
from catapult_nb.widgets.live import Keypad

if TYPE_CHECKING:
    import pandas as pd

    from catapult_nb.flows import Flow, FlowRun
    from catapult_nb.session.session import Session

__all__ = ["HUMAN_SPEED", "FlowPlayer"]

#: The fastest simulator a person can play by hand: keys a person presses 0.7 s apart must not time out.
HUMAN_SPEED = 1.0


class FlowPlayer(w.VBox):
    """Place a call that runs ``flow``, press keys on the virtual phone, watch the flow move.

    Every button is one line of Python: :meth:`place_call` (``session.call(to, flow=flow)``),
    :meth:`press` (``session.phone.press(run.call, keys)``), :meth:`hang_up`
    (``session.phone.hang_up(run.call)``); ``run`` is the :class:`~catapult_nb.flows.FlowRun`.
    The diagram is Mermaid, drawn by JupyterLab ≥ 4.1 and Notebook 7.

    A person plays at the simulator's real pace: :meth:`simulated` gives the player a simulator of its own
    at speed 1, whatever speed the notebook's other session runs at. On a faster session the player says
    so above its buttons. When the session is closed the player says that in one line.
    """

    def __init__(self, session: Session, flow: Flow, to: str = "+15551234567"):
        self.session = session
        self.flow = flow
        self._owns_session = False
        self.run: FlowRun | None = None
        self._shown_step: object = object()  # the step the diagram highlights (none drawn yet)
        self.to = w.Text(to, description="call to", layout=w.Layout(width="260px"))
        self.call_button = w.Button(description="Place call", button_style="success", icon="phone")
        self.call_button.add_class("cnb-flow-call")
        self.call_button.on_click(lambda _: self._clicked(self.place_call))
        self.status = w.HTML("<i>no call yet</i>")
        self.status.add_class("cnb-flow-status")
        self.pace = w.HTML(_pace_note(session))
        self.pace.add_class("cnb-flow-pace")
        self.diagram = w.Output(layout=w.Layout(width="560px", min_height="200px"))
        self.diagram.add_class("cnb-flow-diagram")
        self.transcript = w.HTML(conversation_html(_empty(), ""))
        self.transcript.add_class("cnb-flow-transcript")
        side: list[w.Widget] = [self.transcript]
        self.keypad: Keypad | None = None
        if session.backend == "simulated":
            self.keypad = Keypad(session)
            side.insert(0, self.keypad)
        else:
            side.insert(0, w.HTML("<b>Answer and press the keys on the phone you called.</b>"))
        self._refresh_soon = Coalescer(self.refresh)
        super().__init__([
            w.HTML(f"<h4 style='margin:4px 0'>Flow <i>{html.escape(flow.name)}</i></h4>"),
            self.pace,
            w.HBox([self.to, self.call_button]),
            self.status,
            w.HBox([self.diagram, w.VBox(side, layout=w.Layout(margin="0 0 0 16px", width="320px"))]),
        ])
        self.add_class("cnb-flow-player")
        session.on_close(lambda: call_in_kernel(self._session_closed))
        self.refresh()

    @classmethod
    def simulated(cls, flow: Flow, to: str = "+15551234567", **session_kwargs: Any) -> FlowPlayer:
        """A player on a simulator of its own at a person's pace (speed 1), closed with the player.

        :param session_kwargs: further arguments of :meth:`Session.simulated` (``speed`` included).
        """
        from catapult_nb.session import Session

        session_kwargs.setdefault("speed", HUMAN_SPEED)
        player = cls(Session.simulated(**session_kwargs), flow, to=to)
        player._owns_session = True
        return player

    # -- the one-line actions -------------------------------------------------------------------------

    def place_call(self, to: str | None = None) -> FlowRun:
        """Call ``to`` (default the text box) and run the flow on it: ``session.call(to, flow=flow)``."""
        run = self.session.call(to or self.to.value, flow=self.flow)
        self.run = run
        if self.keypad is not None:
            self.keypad.set_call(run.call)
        run.add_listener(lambda _run: self._refresh_soon())
        self.refresh()
        return run

    def press(self, keys: str) -> None:
        """Press ``keys`` on the far end of the current call, as the keypad does."""
        if self.keypad is None:
            raise RuntimeError("the keypad exists only on the simulated backend")
        self.keypad.press(keys)

    def hang_up(self) -> None:
        """The far end hangs up the current call."""
        if self.run is None or self.run.call is None:
            raise RuntimeError("no call: place a call first")
        self.session.phone.hang_up(self.run.call)

    # -- display --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw the status, the transcript and (when the step changed) the diagram."""
        run = self.run
        step = run.step if run is not None and not run.done else None
        if step != self._shown_step:
            self._shown_step = step
            bundle = {MERMAID_MIMETYPE: self.flow.to_mermaid(current=step), "text/plain": repr(self.flow)}
            self.diagram.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        if run is None:
            return
        self.transcript.value = run.transcript._repr_html_()
        call = html.escape(run.call.id) if run.call is not None else "—"
        if self.session.closed:
            self.status.value = error_html(CLOSED)
            return
        if run.done:
            state = f"<b>{html.escape(str(run.outcome))}</b> <small>{html.escape(run.reason)}</small>"
        else:
            state = f"at step <b>{html.escape(str(run.step or 'ringing'))}</b>"
        self.status.value = f"call <code>{call}</code>: {state}"

    def _clicked(self, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except Exception as exc:  # a click handler has nowhere else to report
            shown = action_error(self.session, exc)
            call_in_kernel(lambda: setattr(self.status, "value", shown))

    def _session_closed(self) -> None:
        self.status.value = error_html(CLOSED)
        self.call_button.disabled = True

    def close(self) -> None:
        """Close the widget, and the session :meth:`simulated` made for it."""
        if self._owns_session:
            self.session.close()
        super().close()


def _pace_note(session: Session) -> str:
    """A line saying the simulator runs too fast to play by hand, or nothing at a person's pace."""
    if session.backend != "simulated" or session.speed <= HUMAN_SPEED:
        return ""
    speed = f"{session.speed:g}"
    return (f"<small style='color:#9a6700'>The simulator runs at ×{speed}: a 7 s timeout passes in "
            f"{7 / session.speed:.1f} s, too fast to play by hand. <code>FlowPlayer.simulated(flow)</code> "
            "plays at a person's pace.</small>")


def _empty() -> pd.DataFrame:
    import pandas as pd

    from catapult_nb.flows.transcript import TRANSCRIPT_COLUMNS

    return pd.DataFrame(columns=list(TRANSCRIPT_COLUMNS))
