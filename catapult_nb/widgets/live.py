"""Widgets that follow what happens on a call: the event table, the keypad, the countdown, the panel."""

from __future__ import annotations

import functools
import html
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from catapult_nb.engine import GatherMachine, GatherSpec
from catapult_nb.widgets._html import action_error, error_html, key_class
from catapult_nb.widgets._kernel import Coalescer, Ticker, call_in_kernel

if TYPE_CHECKING:
    from catapult_nb.session.session import Call, Gather, Session

__all__ = ["EventTable", "GatherCountdown", "Keypad", "SessionPanel"]

_ALL = "(all)"
_SHOWN_COLUMNS = [
    "time", "eventType", "callId", "reason", "digits", "state", "status", "dtmfDigit", "cause", "tag",
]


class EventTable(w.VBox):
    """A live table of the session's events; new rows appear without re-running a cell.

    "replay to…" sends the rows the filters select to a URL again (:meth:`Session.replay`).
    """

    def __init__(self, session: Session, max_rows: int = 30):
        self.session = session
        self.max_rows = max_rows
        self.call_filter = w.Dropdown(options=[_ALL], value=_ALL, description="call")
        self.type_filter = w.Dropdown(options=[_ALL], value=_ALL, description="event type")
        for dropdown in (self.call_filter, self.type_filter):
            dropdown.add_class("cnb-filter")
            dropdown.observe(lambda _: self.refresh(), names="value")
        self.summary = w.HTML()
        self.table = w.HTML()
        self.table.add_class("cnb-event-table")
        self.replay_url = w.Text(
            placeholder="http://127.0.0.1:5000/catapult", description="replay to…",
            layout=w.Layout(width="420px"),
        )
        self.replay_button = w.Button(description="Replay selected rows", layout=w.Layout(width="180px"))
        self.replay_button.on_click(lambda _: self._replay_clicked())
        self.replay_result = w.HTML()
        self.replay_result.add_class("cnb-replay-result")
        self._schedule = Coalescer(self.refresh)
        session.store.add_listener(self._on_event)
        super().__init__([
            w.HBox([self.call_filter, self.type_filter]), self.summary, self.table,
            w.HBox([self.replay_url, self.replay_button]), self.replay_result,
        ])
        self.add_class("cnb-events")
        self.refresh()

    @property
    def data(self) -> pd.DataFrame:
        """The events the table shows, filters applied, newest last."""
        return self._filtered(self.session.events)

    def _filtered(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.call_filter.value != _ALL:
            frame = frame[frame["callId"] == self.call_filter.value]
        if self.type_filter.value != _ALL:
            frame = frame[frame["eventType"] == self.type_filter.value]
        return frame

    def replay(self, url: str | None = None) -> pd.DataFrame:
        """Send the rows the filters select to ``url`` (default: the "replay to…" box), as the button does."""
        rows = self.session.replay(self.data, url or self.replay_url.value.strip())
        self.replay_result.value = _replay_summary(rows)
        return rows

    def _replay_clicked(self) -> None:
        self.replay_result.value = "<i>replaying…</i>"
        try:
            self.replay()
        except Exception as exc:  # shown under the table; a click handler has nowhere else to report
            self.replay_result.value = error_html(str(exc), "replay")

    def refresh(self) -> None:
        everything = self.session.events  # one read of the store per redraw
        self._update_filters(everything)
        frame = self._filtered(everything)
        self.summary.value = f"<small>{len(frame)} event(s) shown of {len(everything)}</small>"
        self.table.value = self._render(frame.tail(self.max_rows))

    def close(self) -> None:
        self.session.store.remove_listener(self._on_event)
        super().close()

    def _on_event(self, _event: Any) -> None:
        self._schedule()

    def _update_filters(self, frame: pd.DataFrame) -> None:
        calls = [_ALL, *sorted(frame["callId"].dropna().unique().tolist())]
        types = [_ALL, *sorted(map(str, frame["eventType"].dropna().unique().tolist()))]
        for dropdown, options in ((self.call_filter, calls), (self.type_filter, types)):
            if list(dropdown.options) != options:
                current = dropdown.value
                dropdown.options = options
                dropdown.value = current if current in options else _ALL

    @staticmethod
    def _render(frame: pd.DataFrame) -> str:
        if not len(frame):
            return "<i>no events yet</i>"
        columns = [c for c in _SHOWN_COLUMNS if c in frame.columns and frame[c].notna().any()]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        rows = []
        for _, row in frame.iterrows():
            cells = []
            for column in columns:
                value = row[column]
                if pd.isna(value):
                    text = ""
                elif column == "time":
                    text = value.strftime("%H:%M:%S.%f")[:-3]
                else:
                    text = str(value)
                cells.append(f"<td>{html.escape(text)}</td>")
            kind = html.escape(str(row["eventType"]))
            style = " style='background:#fff8c5;font-weight:bold'" if kind == "gather" else ""
            rows.append(f"<tr data-event-type='{kind}'{style}>{''.join(cells)}</tr>")
        return (
            "<style>.cnb-events-table th, .cnb-events-table td {padding: 1px 8px; text-align: left}</style>"
            "<table class='cnb-events-table' style='border-collapse:collapse;font-size:12px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def _replay_summary(rows: pd.DataFrame) -> str:
    """``3 sent to http://…: 2× HTTP 200, 1× could not connect: …``."""
    outcomes = rows["error"].fillna("HTTP " + rows["status"].astype("string")).value_counts(sort=False)
    parts = ", ".join(f"{count}× {outcome}" for outcome, count in outcomes.items())
    where = html.escape(rows.attrs.get("url", ""))
    outcome = html.escape(parts) or "nothing to send"
    return f"<small>{len(rows)} sent to <code>{where}</code>: {outcome}</small>"


class Keypad(w.VBox):
    """The virtual phone's keys (simulated backend): each click presses the key on the call; its
    :class:`~catapult_nb.widgets.speaker.Speaker` (:attr:`speaker`) says the call's prompts aloud."""

    LAYOUT = ("123A", "456B", "789C", "*0#D")

    def __init__(self, session: Session, call: Call | None = None):
        self.session = session
        self.call = call
        self.pressed = ""  # keys pressed on the current call, for the eye
        self._on_press: list[Callable[[str], None]] = []
        self.display = w.HTML(self._display())
        self.display.add_class("cnb-keypad-display")
        rows = []
        for line in self.LAYOUT:
            buttons = []
            for key in line:
                button = w.Button(description=key, layout=w.Layout(width="44px", height="36px"))
                button.add_class("cnb-key-" + key_class(key))
                button.on_click(lambda _, k=key: self._clicked(k))
                buttons.append(button)
            rows.append(w.HBox(buttons))
        self.hangup_button = w.Button(description="Hang up", button_style="danger", icon="phone",
                                      layout=w.Layout(width="188px"))
        self.hangup_button.add_class("cnb-hangup")
        self.hangup_button.on_click(lambda _: self._hang_up_clicked())
        from catapult_nb.widgets.speaker import Speaker

        self.speaker = Speaker(session, call)
        super().__init__([w.HTML("<b>Virtual phone</b>"), self.display, *rows, self.hangup_button,
                          self.speaker])
        self.add_class("cnb-keypad")

    def press(self, keys: str) -> None:
        """Press keys on the current call, as the buttons do."""
        if self.call is None:
            raise RuntimeError("no call: place a call first")
        self.session.phone.press(self.call, keys)
        self.pressed += keys
        for fn in list(self._on_press):
            fn(keys)
        self.display.value = self._display()

    def on_press(self, fn: Callable[[str], None]) -> None:
        self._on_press.append(fn)

    def set_call(self, call: Call | None) -> None:
        self.call = call
        self.pressed = ""
        self.display.value = self._display()
        self.speaker.set_call(call)

    def close(self) -> None:
        self.speaker.close()
        super().close()

    def _clicked(self, key: str) -> None:
        try:
            self.press(key)
        except Exception as exc:  # shown on the keypad; a click handler has nowhere else to report
            self.display.value = action_error(self.session, exc)

    def _hang_up_clicked(self) -> None:
        if self.call is None:
            self.display.value = error_html("no call to hang up")
            return
        try:
            self.session.phone.hang_up(self.call)
        except Exception as exc:
            self.display.value = action_error(self.session, exc)
        else:
            self.display.value = "<i>far end hung up</i>"

    def _display(self) -> str:
        if self.call is None:
            return "<i>no call</i>"
        return f"<code style='font-size:16px'>{html.escape(self.pressed) or '&nbsp;'}</code>"


class GatherCountdown(w.VBox):
    """Shows the running gather's clock: the prompt, then the inter-digit timeout counting down.

    An estimate: the gather engine (:class:`~catapult_nb.engine.GatherMachine`) run on this widget's own
    clock with the keys pressed here; the gather event is the truth.
    """

    TICK = 0.1  # wall seconds between redraws

    def __init__(self, session: Session):
        self.session = session
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                   layout=w.Layout(width="236px"))
        self.label = w.HTML("<i>no gather running</i>")
        self.label.add_class("cnb-countdown-label")
        self._gather: Gather | None = None
        self._machine: GatherMachine | None = None  # the estimate, in API seconds since _started
        self._started = 0.0  # wall clock (monotonic) at which the gather was sent
        self._generation = 0  # bumped by start()/reset(): a redraw queued for an older gather is dropped
        self._lock = threading.Lock()
        self._ticker = Ticker(self._step, self.TICK, "cnb-countdown")
        super().__init__([w.HTML("<b>Gather clock</b>"), self.bar, self.label])
        self.add_class("cnb-countdown")

    def start(self, gather: Gather) -> None:
        """Follow ``gather`` from now on."""
        from catapult_nb.prompts import measure

        # the prompt timed as the simulator times it (rendered audio, the file's real length, 0 s for a
        # file it cannot fetch)
        seconds = measure(gather.options, self.session.prompt_timing).seconds
        machine = GatherMachine(GatherSpec.from_options(gather.options, seconds))
        with self._lock:
            self._generation += 1
            self._gather = gather
            self._machine = machine
            self._started = time.monotonic()
        self._ticker.start()

    def reset(self) -> None:
        """Forget the gather being followed (a new call was placed): back to "no gather running"."""
        with self._lock:
            self._generation += 1
            self._gather = None
            self._machine = None
        self._draw_idle()

    def key_pressed(self, keys: str) -> None:
        """The caller pressed ``keys``: the engine stops the prompt and restarts the inter-digit clock.

        :param keys: the keys pressed, as given to :meth:`Keypad.press`.
        """
        with self._lock:
            machine = self._machine
            if machine is None:
                return
            now = self._api_now()
            for key in keys:
                machine.press(key, now)

    def _api_now(self) -> float:
        return (time.monotonic() - self._started) * self.session.speed

    def _step(self) -> bool:
        """One tick (on the ticker's thread): queue a redraw; False once there is no gather to follow."""
        with self._lock:
            gather, generation = self._gather, self._generation
        if gather is None:
            return False
        result = gather.result
        call_in_kernel(functools.partial(self._draw, gather, result, generation))
        if result is None:
            return True
        with self._lock:
            if self._gather is not gather:  # start() brought a newer one: keep ticking
                return True
            self._gather = None
            return False

    def _draw_idle(self) -> None:
        self.bar.value = 0.0
        self.bar.bar_style = "info"
        self.label.value = "<i>no gather running</i>"

    def _draw(self, gather: Gather, result: Any, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # queued before reset() or before a newer gather started
        if result is not None:
            self.bar.value = 1.0  # a full green bar: an empty one read as "nothing happened"
            self.bar.bar_style = "success"
            # The id on a line of its own: wrapped at its hyphen in the narrow column it was unreadable.
            self.label.value = (f"ended: <b>{html.escape(result.reason)}</b>, digits "
                                f"<code>{html.escape(repr(result.digits))}</code><br><small>gather "
                                f"<code style='white-space:nowrap'>{html.escape(gather.id)}</code></small>")
            return
        with self._lock:
            machine = self._machine
            if machine is None or machine.done:
                return  # the estimate has ended: keep the last frame until the gather event arrives
            clock = machine.clock_at(self._api_now())
        if clock.prompt_left > 0:
            self.bar.bar_style = "info"
            self.bar.value = 1.0
            self.label.value = f"prompt playing… {clock.prompt_left:.1f} s left"
            return
        timeout = machine.spec.inter_digit_timeout
        left = clock.timeout_left
        self.bar.bar_style = "warning" if left < timeout / 3 else "info"
        self.bar.value = left / timeout if timeout else 0.0
        looping = " — prompt still looping" if clock.looping else ""
        self.label.value = f"inter-digit timeout: {left:.1f} API s left{looping}"

    def close(self) -> None:
        self._ticker.stop()
        super().close()


class SessionPanel(w.VBox):
    """Backend, receiver and tunnel URLs, the current call; a button to place a call."""

    def __init__(self, session: Session, to: str = "+15551234567"):
        self.session = session
        self.call: Call | None = None
        self._on_call: list[Callable[[Call], None]] = []
        self.info = w.HTML()
        self.to = w.Text(to, description="call to", layout=w.Layout(width="260px"))
        self.to.add_class("cnb-call-to")
        self.call_button = w.Button(description="Place call", button_style="success", icon="phone")
        self.call_button.add_class("cnb-call")
        self.call_button.on_click(lambda _: self._call_clicked())
        self.status = w.HTML("<i>no call yet</i>")
        self.status.add_class("cnb-call-status")
        super().__init__([self.info, w.HBox([self.to, self.call_button]), self.status])
        self.add_class("cnb-session-panel")
        self.refresh()

    def place_call(self, to: str | None = None) -> Call:
        """Place a call and wait until it is answered, as the button does."""
        call = self.session.call(to or self.to.value)
        self.call = call
        for fn in list(self._on_call):
            fn(call)
        self.refresh()
        return call

    def on_call(self, fn: Callable[[Call], None]) -> None:
        self._on_call.append(fn)

    def refresh(self) -> None:
        cells = "".join(
            f"<tr><td style='padding-right:8px'>{k}</td><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in self.session.summary()
        )
        self.info.value = f"<b>Session</b><table>{cells}</table>"
        if self.call is not None:
            self.status.value = (f"call <code>{html.escape(self.call.id)}</code> to "
                                 f"{html.escape(self.call.to)}: <b>{_call_state(self.call)}</b>")

    def _call_clicked(self) -> None:
        self.status.value = "<i>calling…</i>"
        try:
            self.place_call()
        except Exception as exc:  # shown in the panel; a click handler has nowhere else to report
            self.status.value = action_error(self.session, exc)


def _call_state(call: Call) -> str:
    """The call's state as its stored events tell it: no request to the API on every redraw."""
    kinds = set(map(str, call.events["eventType"].dropna()))
    if kinds & {"hangup", "timeout"}:
        return "completed"
    return "active" if "answer" in kinds else "started"
