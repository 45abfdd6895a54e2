"""The virtual phone: a small client of the simulator's ``/_sim`` routes.

It speaks HTTP rather than calling into the simulator, so it works just as well against a simulator
started in another process (``catapult-nb simulator``).
"""

from __future__ import annotations

from typing import Any

import requests

__all__ = ["PhoneError", "VirtualPhone"]


class PhoneError(RuntimeError):
    """The simulator refused a virtual-phone request; the message is the simulator's own."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}{', ' + code if code else ''})")
        self.status = status
        self.code = code


class VirtualPhone:
    """The far end of simulated calls: press keys, hang up, ring in, and read callback deliveries.

    ``base_url`` is the simulator's root (``http://127.0.0.1:8900``), without ``/v1``.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout  # seconds to wait for the simulator to answer
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"VirtualPhone({self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connections kept open to the simulator."""
        self._session.close()

    def __enter__(self) -> VirtualPhone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise PhoneError(
                0, None, f"cannot reach the simulator at {self.base_url}: is it running? ({exc})"
            ) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message, code = body.get("message") or response.reason, body.get("code")
            except (ValueError, AttributeError):
                message, code = response.text or response.reason, None
            raise PhoneError(response.status_code, code, message)
        return response.json() if response.content else None

    def press(self, call_id: str, digits: str, gap: float = 0.25) -> None:
        """The caller presses ``digits`` (``0-9 * # A-D``), the first at once, the rest ``gap`` API s apart.

        Returns as soon as the simulator has accepted the keys. Raises PhoneError for bad digits (400),
        an unknown call (404) or one that is not answered or has ended (403).
        """
        self._request("POST", f"/_sim/calls/{call_id}/press", json={"digits": digits, "gap": gap})

    def hang_up(self, call_id: str) -> None:
        """The caller hangs up (cause ``NORMAL_CLEARING``). Raises PhoneError if the call has ended."""
        self._request("POST", f"/_sim/calls/{call_id}/hangup")

    def incoming(self, from_: str, to: str, callback_url: str, **options: Any) -> str:
        """Ring the application from ``from_`` to ``to``; returns the new call's id.

        The simulator sends an ``incomingcall`` event to ``callback_url``; the application answers with
        POST ``{"state": "active"}`` to the call. ``options`` are further wire fields
        (``callbackHttpMethod``, ``fallbackUrl``, ``callbackTimeout``).
        """
        body = {"from": from_, "to": to, "callbackUrl": callback_url, **options}
        return str(self._request("POST", "/_sim/incoming", json=body)["callId"])

    def deliveries(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """Every callback attempt (oldest first), or only those of ``call_id``."""
        params = {"callId": call_id} if call_id else None
        return list(self._request("GET", "/_sim/deliveries", params=params))

    def call_info(self, call_id: str) -> dict[str, Any]:
        """``GET /_sim/calls/{callId}``: the call's state and every prompt the simulator measured, with
        its length, how it was timed, whether it was played and, if not, why."""
        return dict(self._request("GET", f"/_sim/calls/{call_id}"))

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "speed": …}``; raises PhoneError when the simulator cannot be reached."""
        return dict(self._request("GET", "/_sim/health"))
