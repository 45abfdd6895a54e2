"""v2 webhooks: where each goes (:class:`Hook`) and exactly which fields each carries.

The field sets are those of the official SDK's models (``bandwidth.models.*_callback`` in
``bandwidth-sdk`` 23.x): a payload is filtered through :data:`WEBHOOK_FIELDS` before it is sent, so no
field outside its model can reach an app, and the core fields (:data:`CORE_FIELDS`) are always set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from catapult_nb.bxml import MAX_BXML_BYTES
from catapult_nb.simulator.delivery import CallbackTarget

__all__ = ["CORE_FIELDS", "V2_USER_AGENT", "WEBHOOK_FIELDS", "Hook", "payload"]

V2_USER_AGENT = "BandwidthAPI/v2 (catapult_nb simulator)"

#: Fields every v2 webhook carries.
CORE_FIELDS = (
    "eventType",
    "eventTime",
    "accountId",
    "applicationId",
    "from",
    "to",
    "direction",
    "callId",
    "callUrl",
    "startTime",
)
_TRANSFER = ("transferCallerId", "transferTo")
_LEG = ("parentCallId", *_TRANSFER)  # only on the B-leg of a <Transfer>
#: Each webhook's fields beyond the core ones: the SDK model's fields the simulator can fill.
WEBHOOK_FIELDS: dict[str, tuple[str, ...]] = {
    "initiate": (),
    "answer": ("answerTime", "tag"),
    "gather": ("answerTime", "digits", "terminatingDigit", "tag", *_LEG),
    "redirect": ("answerTime", "tag", *_LEG),
    "transferAnswer": ("answerTime", "tag", *_TRANSFER),
    "transferComplete": ("answerTime", "tag", *_TRANSFER, "cause", "errorMessage", "errorId"),
    "transferDisconnect": ("answerTime", "endTime", "tag", *_LEG, "cause", "errorMessage", "errorId"),
    "dtmf": ("answerTime", "digit", "tag", *_LEG),
    "disconnect": ("answerTime", "endTime", "cause", "errorMessage", "errorId", "tag"),
}
#: Webhooks whose answer is BXML that the call goes on with.
ANSWERED_WITH_BXML = frozenset(
    {"initiate", "answer", "gather", "redirect", "transferAnswer", "transferComplete"}
)
#: Fields that are sent even when empty (``digits`` and ``terminatingDigit`` are ``""`` when none).
KEEP_EMPTY = frozenset({"digits", "terminatingDigit"})


def payload(event_type: str, values: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: the core fields and the model's other fields that have a value, in that order.

    :raises KeyError: for an event type without a model, or a core field missing from ``values``.
    """
    body = {name: values[name] for name in CORE_FIELDS}
    for name in WEBHOOK_FIELDS[event_type]:
        value = values.get(name)
        if value is not None and (value != "" or name in KEEP_EMPTY):  # tag="" clears the tag
            body[name] = value
    return body


@dataclass(frozen=True)
class Hook:
    """Where one webhook goes: URL, method, fallback and their credentials (passwords not in the repr)."""

    url: str
    method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_attrs(
        cls,
        attrs: dict[str, Any],
        base: str,
        url: str,
        method: str,
        fallback: str = "",
        fallback_method: str = "",
        auth: bool = True,
    ) -> Hook | None:
        """The hook a verb's attributes name (``url`` etc. are the attribute names), its relative URLs
        resolved against ``base`` (the URL that served the document); None when ``url`` is not set."""
        if not attrs.get(url):
            return None
        fallback_url = attrs.get(fallback) if fallback else None
        return cls(
            url=urljoin(base, attrs[url]),
            method=attrs.get(method, "POST"),
            fallback_url=urljoin(base, fallback_url) if fallback_url else None,
            fallback_method=attrs.get(fallback_method, "POST") if fallback_method else "POST",
            username=attrs.get("username") if auth else None,
            password=attrs.get("password") if auth else None,
            fallback_username=attrs.get("fallbackUsername") if auth else None,
            fallback_password=attrs.get("fallbackPassword") if auth else None,
        )

    def target(self, timeout_s: float, route: Callable[[str], str] = str) -> CallbackTarget:
        """How the deliverer sends to this hook, waiting ``timeout_s`` (callbackTimeout) per try;
        ``route`` gives the URL really contacted for each URL (the simulator's reroutes)."""
        return CallbackTarget(
            url=route(self.url),
            method=self.method,
            timeout_ms=max(1, round(timeout_s * 1000)),
            fallback_url=route(self.fallback_url) if self.fallback_url else None,
            fallback_method=self.fallback_method,
            username=self.username,
            password=self.password,
            fallback_username=self.fallback_username,
            fallback_password=self.fallback_password,
            answer_limit=MAX_BXML_BYTES + 1,
            user_agent=V2_USER_AGENT,
        )
