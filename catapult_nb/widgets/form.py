"""GatherForm: every gather option as a widget, validated as you type, with the exact request body.

The form speaks either dialect (``GatherForm.dialect``): ``v1`` previews and sends Catapult's REST
gather (the JSON body), ``v2`` previews the BXML ``<Gather>`` a Bandwidth Voice API v2 app answers with —
:func:`catapult_nb.gather_port.gather`'s port that keeps v1's behaviour, the same document as
``migrate.gather(options).bxml`` and the "v2 BXML" code tab — and sends it on a v2 session's call.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.errors import Error
from catapult_nb.options import (
    DTMF_KEYS,
    OPTION_FIELDS,
    SHOWN_FIELDS,
    GatherOptions,
    OptionError,
    OptionField,
    nest_wire,
    voices_for,
)
from catapult_nb.widgets._html import action_error, error_html, key_class

if TYPE_CHECKING:
    from catapult_nb.gather_port import Migration
    from catapult_nb.prompts.player import Listen, Unheard
    from catapult_nb.session.session import Call, Gather, Session

__all__ = ["GatherForm"]

_DEFAULT = "(API default)"
_UNSET = ""  # a dropdown's "leave it out" value (ipywidgets shows a None value as no selection)
_TAB_TITLES = {"python": "Python", "python-sdk": "SDK", "csharp": "C#", "ruby": "Ruby"}
#: The form's width: fits beside the keypad column in a 1400 px window with JupyterLab's file browser open.
FORM_WIDTH = "700px"
_TRISTATE = [(_DEFAULT, _UNSET), ("true", True), ("false", False)]
_BODY_CAPTION = "request body: what Send posts and every code tab sends (the API also takes JSON numbers)"
_BXML_CAPTION = "the <Gather> your v2 app answers with: what Send sends on a v2 call (keeps v1's behaviour)"
#: The dialects the form sends, with their buttons' labels.
DIALECTS = (("v1 REST", "v1"), ("v2 BXML", "v2"))
#: The first code tab's title in each dialect: the request body, or the document the app answers with.
_PREVIEW_TITLES = {"v1": "JSON", "v2": "BXML"}


class _OtherDialect(Error, RuntimeError):
    """The form is set to one dialect and the call speaks the other: nothing was sent."""


def api_of(session: Any) -> str:
    """The dialect a session speaks: its ``api`` (``"v2"`` for Bandwidth's Voice API v2), else ``"v1"``."""
    api = getattr(session, "api", "v1")
    return api if api in ("v1", "v2") else "v1"


def _labelled(widget: w.Widget, label: str, prop: str, tip: str = "") -> w.Widget:
    widget.add_class(f"cnb-field-{prop.replace('.', '-')}")
    widget.description = label
    widget.tooltip = tip or prop
    widget.style = {"description_width": "150px"}
    widget.layout = w.Layout(width="420px")
    return widget


def _choice(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(_DEFAULT, _UNSET), *((v, v) for v in values)]


def _widget(field: OptionField) -> w.Widget:
    """The widget that edits ``field``, as its ``widget`` kind in the option table says."""
    kind = field.widget
    hint = {"placeholder": field.hint} if field.hint else {}  # ipywidgets' own placeholder otherwise
    if kind in ("whole", "number"):
        # Unbounded boxes: a bounded one turned a typed 0 into 1 without a word; the check names the range.
        start = field.example if field.example is not None else (field.bounds[0] if field.bounds else 0)
        widget = w.IntText(start) if kind == "whole" else w.FloatText(float(start), step=0.5)
    elif kind == "sentence":
        widget = w.Textarea(field.example or "", **hint)
    elif kind in ("keys", "text", "verbatim"):
        widget = w.Text(field.example or "", **hint)
    elif kind == "choice":
        widget = w.Dropdown(options=_choice(field.choices), value=_UNSET)
    elif kind == "tristate":
        widget = w.Dropdown(options=_TRISTATE, value=_UNSET)
    else:  # "switch"
        widget = w.Checkbox(False)
    return _labelled(widget, field.label or field.wire, field.wire, field.help)


def _read(field: OptionField, value: Any) -> Any:
    """The wire value a widget's ``value`` stands for, or ``None`` to leave the option out."""
    kind = field.widget
    if kind == "number":
        return int(value) if float(value).is_integer() else value
    if kind in ("whole", "keys"):  # always sent, so a blank one is named by the check
        return value
    if kind in ("text", "sentence"):
        return value if value.strip() else None
    if kind == "verbatim":  # a tag of spaces is still a tag
        return value or None
    if kind == "switch":
        return True if value else None
    return None if value == _UNSET else value  # "choice", "tristate"


class TerminatingDigitPicker(w.HBox):
    """One toggle per DTMF key, kept in step with a text value."""

    def __init__(self, on_pick: Callable[[str], None]):
        self._on_pick = on_pick
        self.toggles = {
            key: w.ToggleButton(description=key, layout=w.Layout(width="28px", padding="0"))
            for key in DTMF_KEYS
        }
        for key, toggle in self.toggles.items():
            toggle.add_class(f"cnb-term-{key_class(key)}")
            toggle.observe(self._toggled, names="value")
        self._syncing = False
        # One row of 16 keys: wrapping left a lone key on a second line, which reads as a different group.
        row = w.Layout(flex_flow="row nowrap", flex="0 0 auto")
        super().__init__(list(self.toggles.values()), layout=row)
        self.add_class("cnb-terminating-picker")

    def show(self, text: str) -> None:
        self._syncing = True
        try:
            for key, toggle in self.toggles.items():
                toggle.value = key in text.upper()
        finally:
            self._syncing = False

    def _toggled(self, _: Any) -> None:
        if not self._syncing:
            self._on_pick("".join(k for k, t in self.toggles.items() if t.value))


class GatherForm(w.VBox):
    """Fill in gather options, see the request (JSON and code), and send it on the chosen call.

    Everything here is one line of Python too: :attr:`options` is the :class:`GatherOptions` the form
    describes, :attr:`migration` its v2 ``<Gather>``, :meth:`send` does what the button does.

    :param dialect: ``"v1"`` (Catapult's REST gather) or ``"v2"`` (a BXML ``<Gather>``); default: the
        session's own (``session.api``), else v1.
    """

    def __init__(self, session: Session | None = None, call: Call | None = None, *,
                 dialect: str | None = None, **values: Any):
        dialect = api_of(session) if dialect is None else dialect
        if dialect not in dict(DIALECTS).values():
            raise ValueError(f"dialect must be 'v1' or 'v2', got {dialect!r}")
        self.session = session
        self.call = call
        self.last_gather: Gather | None = None
        self._on_sent: list[Callable[[Gather], None]] = []

        #: Python option name -> the widget that edits it, one per field of the option table, as shown.
        self.widgets: dict[str, w.Widget] = {}
        for field in SHOWN_FIELDS:
            self.widgets[field.python] = widget = _widget(field)
            setattr(self, field.python, widget)  # form.max_digits, form.sentence, …
        self.picker = TerminatingDigitPicker(self._picked)
        #: v1: the REST request body is previewed and sent; v2: the BXML <Gather> document.
        self.dialect = w.ToggleButtons(options=DIALECTS, value=dialect, tooltips=[
            "Catapult v1: POST the gather to the call",
            "Bandwidth Voice API v2: the <Gather> your app answers with",
        ], style={"button_width": "80px"})
        self.dialect.add_class("cnb-dialect")

        self.validation = w.HTML()
        self.validation.add_class("cnb-validation")
        self.preview = w.HTML()
        self.preview.add_class("cnb-preview")
        from catapult_nb.snippets import LANGUAGES, TRANSLATIONS

        # one tab per request language, then the same gather in v2 BXML and TwiML
        self.snippets = {language: w.HTML() for language, _ in (*LANGUAGES, *TRANSLATIONS)}
        titles = {**dict(TRANSLATIONS), **_TAB_TITLES}
        tabs = (_PREVIEW_TITLES[dialect], *(titles.get(name, name) for name in self.snippets))
        self.code = w.Tab([self.preview, *self.snippets.values()], titles=tabs)
        self.code.layout = w.Layout(width="100%")
        self.code.add_class("cnb-code")
        self.send_button = w.Button(description="Send gather", button_style="primary", icon="paper-plane")
        self.send_button.add_class("cnb-send")
        self.result = w.HTML("<i>not sent yet</i>")
        self.result.add_class("cnb-send-result")
        self._result_error = False  # the result line shows a refusal, which the next edit takes away
        self._result_for: str | None = None  # the gather whose end the result line shows
        self.send_button.on_click(lambda _: self._send_clicked())
        self.stop_button = w.Button(description="Stop gather", icon="stop", layout=w.Layout(width="120px"),
                                    tooltip="stop the running gather (no gather event follows)")
        self.stop_button.add_class("cnb-stop")
        self.stop_button.on_click(lambda _: self._stop_clicked())
        # ▶ Listen: the prompt rendered (or the file fetched) into an <audio> player; nothing autoplays.
        self.listen_button = w.Button(description="Listen", icon="play", tooltip="hear the prompt",
                                      layout=w.Layout(width="96px"))
        self.listen_button.add_class("cnb-listen")
        self.listen_button.on_click(lambda _: self._listen_clicked())
        self._heard: Any = None  # the prompt the player holds
        self.spoken = w.HTML()  # "2.4 s spoken": the sentence's rendered length, kept up to date
        self.spoken.add_class("cnb-spoken")
        # The <audio> player is made on the first Listen: an empty one stalls Chromium's page for seconds.
        self.player: w.Audio | None = None
        self.player_box = w.Box(layout=w.Layout(margin="2px 0 2px 154px"))
        self.player_box.add_class("cnb-player")

        self.fields = list(self.widgets.values())
        for field in [*self.fields, self.dialect]:
            field.observe(self._changed, names="value")
        self.locale.observe(self._refresh_voices, names="value")
        self.gender.observe(self._refresh_voices, names="value")

        options_box = w.VBox(self._rows())
        super().__init__([
            w.HTML("<h4 style='margin:4px 0'>Gather options</h4>"),
            options_box, self.validation, w.HBox([self.dialect, self.send_button, self.stop_button]),
            self.result, self.code,
        ])
        # A fixed width that does not shrink: in the Explorer's row a flexible form narrowed whenever the
        # result line grew (a 409 message), re-wrapping its rows and moving the keypad under the pointer.
        self.layout = w.Layout(width=FORM_WIDTH, flex="0 0 auto")
        self.add_class("cnb-gather-form")
        self.set_values(**values)
        self._changed()

    # -- the options the form describes -----------------------------------------------------------

    def _rows(self) -> list[w.Widget]:
        """The option rows: the gather's own fields, then a Prompt heading and the prompt's."""
        rows: list[w.Widget] = []
        for field in SHOWN_FIELDS:
            widget = self.widgets[field.python]
            if field.in_prompt and not any(isinstance(row, w.HTML) for row in rows):
                rows.append(w.HTML("<b>Prompt</b>"))
            if field.widget == "sentence":
                rows.append(w.HBox([widget, w.VBox([self.listen_button, self.spoken],
                                                   layout=w.Layout(margin="0 0 0 6px"))]))
                rows.append(self.player_box)
            else:
                rows.append(widget)
            if field.widget == "keys":
                rows.append(w.HBox([w.Label("pick:", layout=w.Layout(width="150px")), self.picker]))
        return rows

    def wire_body(self) -> dict[str, Any]:
        """The body as the form's fields give it, before validation (blank text fields left out)."""
        flat = {field.wire: _read(field, self.widgets[field.python].value) for field in OPTION_FIELDS}
        return nest_wire({name: value for name, value in flat.items() if value is not None})

    @property
    def options(self) -> GatherOptions:
        """The validated options; raises :class:`OptionError` naming the bad property."""
        return GatherOptions.from_wire(self.wire_body())

    @property
    def migration(self) -> Migration:
        """The v2 ``<Gather>`` that behaves like :attr:`options` (:func:`catapult_nb.migrate.gather`):
        ``form.migration.bxml`` is the v2 preview, ``.differences`` what v2 cannot keep.

        :raises OptionError: a field is invalid (the message names it).
        """
        from catapult_nb.gather_port import gather as port

        return port(self.options)

    def set_values(self, **values: Any) -> None:
        """Set fields by their Python option names: ``form.set_values(max_digits=4, sentence="Hi")``."""
        for name, value in values.items():
            widget = getattr(self, name, None)
            if widget is None or widget not in self.fields:
                raise TypeError(f"GatherForm has no field {name!r}")
            widget.value = value

    # -- sending ------------------------------------------------------------------------------------

    def send(self) -> Gather:
        """Create the gather on ``call``, exactly as the Send button does: v1, the REST gather; v2, the
        ``migration``'s ``<Gather>`` as the BXML the call fetches (a v2 session's call).

        :raises RuntimeError: no call, or a call of the other dialect (the message says what to do).
        :raises OptionError: a field is invalid.
        """
        if self.call is None:
            raise RuntimeError("no call to gather on: place a call first (session.call(...)), set form.call")
        dialect, speaks = self.dialect.value, api_of(self.call.session)
        if dialect != speaks:
            opened = "Session.simulated(api='v2')" if dialect == "v2" else "Session.simulated()"
            raise _OtherDialect(
                f"this call speaks {speaks} and the form is set to send a {dialect} gather: switch the form "
                f"to {speaks} (form.dialect.value = {speaks!r}), or place the call on a {dialect} session "
                f"({opened})")
        # a v2 session's call takes the Migration as it is: the document the preview shows is the one sent
        what: Any = self.migration if dialect == "v2" else self.options
        gather = self.call.gather(what)
        self.last_gather = gather
        for fn in list(self._on_sent):
            fn(gather)
        return gather

    def stop(self) -> None:
        """Stop the gather the form sent last, as the Stop button does (:meth:`Gather.stop`)."""
        if self.last_gather is None:
            raise RuntimeError("no gather to stop: send one first")
        self.last_gather.stop()

    def set_call(self, call: Call | None) -> None:
        """Gather on ``call`` from now on: the code tabs show its id, the last call's result line goes."""
        self.call = call
        self.last_gather = None
        self._result_for = None
        self._show_result("<i>not sent yet on this call</i>" if call is not None else "<i>not sent yet</i>")
        self._changed()

    def refresh_result(self) -> None:
        """Say on the result line how the last gather ended, once its event has arrived."""
        gather = self.last_gather
        if gather is None or self._result_for == gather.id or self._result_error:
            return
        result = gather.result
        if result is None:
            return
        self._result_for = gather.id
        self._show_result(
            f"<span style='color:#1a7f37'>✔ gather <code>{html.escape(gather.id)}</code> ended: "
            f"<b>{html.escape(result.reason)}</b>, digits <code>{html.escape(repr(result.digits))}</code>"
            "</span>")

    def _show_result(self, value: str, error: bool = False) -> None:
        self.result.value = value
        self._result_error = error

    def on_sent(self, fn: Callable[[Gather], None]) -> None:
        """Call ``fn(gather)`` after each gather the form creates."""
        self._on_sent.append(fn)

    def _send_clicked(self) -> None:
        from catapult_nb.client import CatapultError

        try:
            gather = self.send()
        except (OptionError, _OtherDialect) as exc:
            self._show_result(error_html(str(exc), "Not sent"), error=True)
        except (CatapultError, RuntimeError) as exc:
            title = "Not sent" if self.call is None else "The API said"
            self._show_result(action_error(self.session, exc, title), error=True)
        else:
            self._show_result(
                f"<span style='color:#1a7f37'>✔ gather <code>{html.escape(gather.id)}</code> created on "
                f"<code>{html.escape(gather.call.id)}</code>; waiting for the caller</span>"
            )
            self.refresh_result()  # it may have ended already (a caller quick on the keys)

    def _stop_clicked(self) -> None:
        try:
            self.stop()
        except Exception as exc:  # shown on the result line; a click handler has nowhere else to report
            self._show_result(action_error(self.session, exc, "Not stopped"), error=True)
        else:
            gather = self.last_gather
            assert gather is not None
            self._result_for = gather.id
            self._show_result(f"<i>gather <code>{html.escape(gather.id)}</code> stopped: no gather event "
                              "follows; Send starts a new one</i>")

    # -- listening ------------------------------------------------------------------------------------

    def listen(self) -> Listen | Unheard:
        """Hear the prompt the form describes, as the ▶ Listen button does (see :meth:`Prompt.listen`)."""
        return self.options.listen()

    def _listen_clicked(self) -> None:
        from catapult_nb.prompts import Listen

        try:
            heard = self.listen()
        except OptionError as exc:
            self.spoken.value = error_html(str(exc), "Cannot listen")
            return
        self._heard = self.options.prompt
        if isinstance(heard, Listen):
            kind = "mpeg" if heard.mimetype == "audio/mpeg" else "wav"
            if self.player is None:
                self.player = w.Audio(value=heard.data, format=kind, autoplay=False, loop=False,
                                      controls=True, layout=w.Layout(width="266px"))
            else:
                self.player.format, self.player.value = kind, heard.data
            self.player_box.children = (self.player,)
            self.spoken.value = self._spoken_html(heard.label, heard.duration)
        else:
            self.player_box.children = ()
            self.spoken.value = error_html(heard.reason, "Nothing to hear")

    def _show_spoken(self, options: GatherOptions) -> None:
        """The sentence's rendered length beside it (files are measured only when Listen is pressed)."""
        from catapult_nb import prompts

        prompt = options.prompt
        if prompt is None or not (prompt.sentence or "").strip():
            self.spoken.value = "" if prompt is None or not prompt.file_url else "<small>a file</small>"
            return
        if prompt != self._heard:  # the player holds an older prompt: take it away
            self.player_box.children = ()
        length = prompts.measure(prompt)
        label = f"{length.seconds:.1f} s spoken" if length.timing == "audio" else f"≈{length.seconds:.1f} s"
        self.spoken.value = self._spoken_html(label, length.seconds, length.reason)

    @staticmethod
    def _spoken_html(label: str, seconds: float, why: str = "") -> str:
        title = f" title='{html.escape(why, quote=True)}'" if why else ""
        data = f"class='cnb-spoken-label' data-seconds='{seconds:.3f}'{title}"
        return f"<small {data}>{html.escape(label)}</small>"

    # -- live feedback ------------------------------------------------------------------------------

    def _changed(self, *_: Any) -> None:
        if self._result_error:  # a refusal (a 409, an invalid value) is about the body as it was
            self._show_result("<i>edited since the last try: not sent yet</i>")
        self.picker.show(self.terminating_digits.value)
        self.code.set_title(0, _PREVIEW_TITLES[self.dialect.value])
        body = self.wire_body()
        try:
            options = GatherOptions.from_wire(body)
        except OptionError as exc:
            self.validation.value = error_html(str(exc), f"✖ {exc.prop}")
            self.preview.value = self._pre(json.dumps(body, indent=2), "invalid — not sendable")
            for view in self.snippets.values():
                view.value = error_html(f"fix {exc.prop} first", "not sendable")
            return
        self.validation.value = "<span style='color:#1a7f37'>✔ valid</span>"
        self._show_spoken(options)
        # The body Send posts, and every code tab sends: numbers as strings (as the how-to pages), booleans
        # as booleans.
        if self.dialect.value == "v2":
            from catapult_nb.gather_port import gather as port

            self.preview.value = self._pre(port(options).bxml, _BXML_CAPTION)
        else:
            wire = options.to_wire()
            self.preview.value = self._pre(json.dumps(wire, indent=2), _BODY_CAPTION)
        self._render_code(options)

    def _render_code(self, options: GatherOptions) -> None:
        from catapult_nb import snippets

        call_id = self.call.id if self.call is not None else "{callId}"
        for language, view in self.snippets.items():
            try:
                view.value = self._pre(snippets.render(options, call_id, language))
            except ValueError as exc:  # text no code can carry (a lone surrogate, say)
                view.value = error_html(str(exc), "cannot render")

    def _picked(self, keys: str) -> None:
        self.terminating_digits.value = keys

    def _voice_options(self) -> list[tuple[str, str]]:
        locale, gender = self.widgets["locale"].value, self.widgets["gender"].value
        return _choice(voices_for(locale, gender))  # "" = any

    def _refresh_voices(self, *_: Any) -> None:
        current = self.voice.value
        options = self._voice_options()
        self.voice.options = options
        self.voice.value = current if current in {value for _, value in options} else _UNSET

    @staticmethod
    def _pre(text: str, caption: str = "") -> str:
        head = f"<small>{html.escape(caption)}</small>" if caption else ""
        # Long prompt sentences wrap between words, not mid-word as a bare <pre> in JupyterLab does.
        style = "margin:2px 0;white-space:pre-wrap;word-break:normal;overflow-wrap:break-word"
        return f"{head}<pre style='{style}'>{html.escape(text)}</pre>"

