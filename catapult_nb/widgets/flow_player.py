"""FlowPlayer: play a call flow by hand — the diagram with the current step lit, a keypad, the
transcript growing as the call goes."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as w

from catapult_nb.flows.diagram import MERMAID_MIMETYPE
from catapult_nb.flows.transcript import conversation_html
from catapult_nb.widgets._html import error_html
from catapult_nb.widgets._kernel import Coalescer, call_in_kernel
from catapult_nb.widgets.live import Keypad

if TYPE_CHECKING:
    from catapult_nb.flows import Flow, FlowRun
    from catapult_nb.session.session import Session

__all__ = ["FlowPlayer"]


class FlowPlayer(w.VBox):
    """Place a call that runs ``flow``, press keys on the virtual phone, watch the flow move.

    Every button is one line of Python: :meth:`place_call` (``session.call(to, flow=flow)``),
    :meth:`press` (``session.phone.press(run.call, keys)``), :meth:`hang_up`
    (``session.phone.hang_up(run.call)``); ``run`` is the :class:`~catapult_nb.flows.FlowRun`.
    The diagram is Mermaid, drawn by JupyterLab ≥ 4.1 and Notebook 7.
    """

    def __init__(self, session: Session, flow: Flow, to: str = "+15551234567"):
        self.session = session
        self.flow = flow
        self.run: FlowRun | None = None
        self._shown_step: object = object()  # the step the diagram highlights (none drawn yet)
        self.to = w.Text(to, description="call to", layout=w.Layout(width="260px"))
        self.call_button = w.Button(description="Place call", button_style="success", icon="phone")
        self.call_button.add_class("cnb-flow-call")
        self.call_button.on_click(lambda _: self._clicked(self.place_call))
        self.status = w.HTML("<i>no call yet</i>")
        self.status.add_class("cnb-flow-status")
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
            w.HBox([self.to, self.call_button]),
            self.status,
            w.HBox([self.diagram, w.VBox(side, layout=w.Layout(margin="0 0 0 16px", width="320px"))]),
        ])
        self.add_class("cnb-flow-player")
        self.refresh()

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
        if run.done:
            state = f"<b>{html.escape(str(run.outcome))}</b> <small>{html.escape(run.reason)}</small>"
        else:
            state = f"at step <b>{html.escape(str(run.step or 'ringing'))}</b>"
        self.status.value = f"call <code>{call}</code>: {state}"

    def _clicked(self, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except Exception as exc:  # a click handler has nowhere else to report
            message = str(exc)
            call_in_kernel(lambda: setattr(self.status, "value", error_html(message)))


def _empty() -> object:
    import pandas as pd

    from catapult_nb.flows.transcript import TRANSCRIPT_COLUMNS

    return pd.DataFrame(columns=list(TRANSCRIPT_COLUMNS))
