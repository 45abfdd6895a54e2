"""CredentialsForm: type the API credentials into password fields instead of a file."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from catapult_nb.widgets._html import error_html

if TYPE_CHECKING:
    from catapult_nb.session.session import Session

__all__ = ["CredentialsForm"]


class CredentialsForm(w.VBox):
    """Password fields for the API token and secret, and a Connect button that opens a live session.

    The fields are emptied as soon as Connect reads them, so the secret does not stay in the widget's
    state (which a saved notebook may keep). ``connect_kwargs`` go to :meth:`Session.live`.
    """

    def __init__(self, on_session: Callable[[Session], None] | None = None, **connect_kwargs: Any):
        self.session: Session | None = None
        self._on_session = on_session
        self._kwargs = connect_kwargs
        self.user_id = w.Text(placeholder="u-…", description="user id")
        self.api_token = w.Password(placeholder="t-…", description="API token")
        self.api_secret = w.Password(description="API secret")
        self.from_number = w.Text(placeholder="+1… (a number on your account)", description="from")
        self.connect_button = w.Button(description="Connect", button_style="primary")
        self.connect_button.add_class("cnb-connect")
        self.message = w.HTML()
        self.connect_button.on_click(lambda _: self._connect_clicked())
        super().__init__([self.user_id, self.api_token, self.api_secret, self.from_number,
                          self.connect_button, self.message])
        self.add_class("cnb-credentials")

    def connect(self) -> Session:
        from catapult_nb.session.session import Session

        user_id, from_number = self.user_id.value or None, self.from_number.value or None
        api_token, api_secret = self.api_token.value or None, self.api_secret.value or None
        self.api_token.value = ""
        self.api_secret.value = ""
        self.session = Session.live(user_id=user_id, api_token=api_token, api_secret=api_secret,
                                    from_number=from_number, **self._kwargs)
        if self._on_session is not None:
            self._on_session(self.session)
        return self.session

    def _connect_clicked(self) -> None:
        try:
            session = self.connect()
        except Exception as exc:  # shown beside the button; a click handler has nowhere else to report
            self.message.value = error_html(str(exc))
        else:
            self.message.value = f"connected: callbacks go to {html.escape(session.tunnel.public_url)}"
