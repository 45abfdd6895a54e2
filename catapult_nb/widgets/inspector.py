"""CallbackInspector: each callback the receiver got and what it answered, as ngrok's inspector shows them."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.widgets._kernel import Coalescer

if TYPE_CHECKING:
    from catapult_nb.receiver.exchanges import Exchange
    from catapult_nb.session import Session

__all__ = ["CallbackInspector"]


class CallbackInspector(w.HBox):
    """The receiver's latest requests on the left (newest first); the one picked on the right: the event as
    sent and the receiver's answer (status, body, time taken).

    The list is ``session.receiver.exchanges`` (:class:`~catapult_nb.receiver.exchanges.ExchangeLog`);
    :meth:`show` picks one by its number, as a click does. The path's secret token is masked and no
    header is kept (``Authorization`` carries the callback's password).
    """

    def __init__(self, session: Session, max_rows: int = 50):
        self.session = session
        self.exchanges = session.receiver.exchanges
        self.max_rows = max_rows
        self.list = w.Select(options=[], rows=12, layout=w.Layout(width="430px"))
        self.list.add_class("cnb-inspector-list")
        self.list.observe(lambda _: self._draw_detail(), names="value")
        self.detail = w.HTML("<i>no request yet</i>")
        self.detail.add_class("cnb-inspector-detail")
        self._refresh_soon = Coalescer(self.refresh)
        self.exchanges.add_listener(self._on_exchange)
        side = w.Box([self.detail], layout=w.Layout(margin="0 0 0 12px", width="480px"))
        super().__init__([self.list, side])
        self.add_class("cnb-inspector")
        self.refresh()

    def refresh(self) -> None:
        """Redraw the list (newest first); a new request is picked while the newest one was."""
        items = self.exchanges.items()[-self.max_rows:][::-1]
        options = [(_line(item), item.number) for item in items]
        current = self.list.value
        follow = current is None or (self.list.options and current == self.list.options[0][1])
        if list(self.list.options) != options:
            self.list.options = options
            numbers = [number for _, number in options]
            self.list.value = numbers[0] if numbers and (follow or current not in numbers) else current
        self._draw_detail()

    def show(self, number: int) -> Exchange:
        """Pick exchange ``number`` (as listed), as a click on its line does; returns it."""
        found = next((item for item in self.exchanges.items() if item.number == number), None)
        if found is None:
            raise KeyError(f"no exchange {number} in the receiver's latest {len(self.exchanges)}")
        self.list.value = number
        return found

    def _draw_detail(self) -> None:
        number = self.list.value
        item = next((e for e in self.exchanges.items() if e.number == number), None)
        if item is None:
            self.detail.value = "<i>no request yet</i>"
            return
        sent = item.request
        body = json.dumps(sent, indent=2, ensure_ascii=False) if isinstance(sent, dict) else str(sent or "")
        colour = "#1a7f37" if item.status < 400 else "#cf222e"
        pre = "margin:2px 0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px"
        self.detail.value = (
            f"<div><b>Request #{item.number}</b> <code>{html.escape(item.method)} {html.escape(item.path)}"
            f"</code> <small>{_clock(item.time)}</small></div>"
            f"<pre class='cnb-inspector-request' style='{pre}'>{html.escape(body) or '(no body)'}</pre>"
            f"<div><b>Answer</b> <span style='color:{colour}'><b>{item.status}</b></span> "
            f"<small>in {item.elapsed_ms:g} ms</small></div>"
            f"<pre class='cnb-inspector-answer' style='{pre}'>{html.escape(item.answer) or '(empty)'}</pre>"
        )

    def _on_exchange(self, _item: Any) -> None:
        self._refresh_soon()

    def close(self) -> None:
        self.exchanges.remove_listener(self._on_exchange)
        super().close()


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _line(item: Exchange) -> str:
    what = item.event_type or "(not an event)"
    call = f" {item.call_id}" if item.call_id else ""
    return f"#{item.number} {_clock(item.time)} {item.method} {what}{call} → {item.status}"
