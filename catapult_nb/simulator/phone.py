"""The virtual phone: a small client of the simulator's ``/_sim`` routes.

It speaks HTTP rather than calling into the simulator, so it works just as well against a simulator
started in another process (``catapult-nb simulator``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import requests

from catapult_nb.errors import Error

if TYPE_CHECKING:
    from catapult_nb.store.records import RecordFrame

__all__ = ["AsyncVirtualPhone", "PhoneError", "VirtualPhone"]


class PhoneError(Error, RuntimeError):
    """The simulator refused a virtual-phone request; the message is the simulator's own."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}{', ' + code if code else ''})")
        self.status = status  # 0 when the simulator could not be reached
        self.code = code  # the error body's code, if any
        self.message = message  # the simulator's own message


def _refusal(status: int, reason: str, text: str) -> PhoneError:
    """The simulator's error body (``message``, ``code``) as a PhoneError; any other body as it is."""
    try:
        body = json.loads(text)
        message, code = body.get("message") or body.get("description") or reason, body.get("code")
    except (ValueError, AttributeError):
        message, code = text or reason, None
    return PhoneError(status, code, message)


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

    def add_response_hook(self, hook: Callable[..., Any]) -> None:
        """Call ``hook(response)`` with each answer the simulator gives this phone (a ``requests``
        response hook); a session's recorder uses it."""
        self._session.hooks["response"].append(hook)

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
            raise _refusal(response.status_code, response.reason, response.text)
        return response.json() if response.content else None

    def press(self, call_id: str, digits: str, gap: float = 0.25, at: Sequence[str] | None = None) -> None:
        """The caller presses ``digits`` (``0-9 * # A-D``), the first at once, the rest ``gap`` API s apart
        — or each at its moment in ``at`` (timestamps on the simulator's clock, as its events' ``time``;
        one already past is pressed at once).

        Returns as soon as the simulator has accepted the keys. Raises PhoneError for bad digits (400),
        an unknown call (404) or one that is not answered or has ended (403).
        """
        self._request("POST", f"/_sim/calls/{call_id}/press", json=_press_body(digits, gap, at))

    def hang_up(self, call_id: str, at: str | None = None) -> None:
        """The caller hangs up (cause ``NORMAL_CLEARING``), now or at the moment ``at`` (a timestamp on the
        simulator's clock) unless the call ends before. Raises PhoneError if the call has ended."""
        self._request("POST", f"/_sim/calls/{call_id}/hangup", json={"at": at} if at else None)

    def incoming(self, from_: str, to: str, callback_url: str, **options: Any) -> str:
        """Ring the application from ``from_`` to ``to``; returns the new call's id.

        The simulator sends an ``incomingcall`` event to ``callback_url``; the application answers with
        POST ``{"state": "active"}`` to the call. ``options`` are further wire fields
        (``callbackHttpMethod``, ``fallbackUrl``, ``callbackTimeout``).
        """
        body = {"from": from_, "to": to, "callbackUrl": callback_url, **options}
        return str(self._request("POST", "/_sim/incoming", json=body)["callId"])

    def incoming_v2(self, from_: str, to: str, application_url: str, **options: Any) -> str:
        """Ring a v2 application (Bandwidth's Voice API v2) from ``from_`` to ``to``; returns the call id.

        The simulator sends an ``initiate`` webhook to ``application_url``; the BXML it answers with
        answers the call and runs. ``options``: ``disconnectUrl`` (default: ``application_url``),
        ``applicationId``, ``applicationMethod``, ``fallbackUrl``, ``username``/``password``,
        ``callbackTimeout`` (seconds).
        """
        body = {"from": from_, "to": to, "applicationUrl": application_url, **options}
        return str(self._request("POST", "/_sim/incoming", json=body)["callId"])

    def deliveries(self, call_id: str | None = None) -> RecordFrame:
        """Every callback attempt (oldest first), or only those of ``call_id``, one row each (columns
        :data:`~catapult_nb.store.records.DELIVERY_COLUMNS`)."""
        from catapult_nb.store.records import deliveries_frame

        params = {"callId": call_id} if call_id else None
        return deliveries_frame(list(self._request("GET", "/_sim/deliveries", params=params)))

    def call_info(self, call_id: str) -> dict[str, Any]:
        """``GET /_sim/calls/{callId}``: the call's state and every prompt the simulator measured, with
        its length, how it was timed, whether it was played and, if not, why."""
        return dict(self._request("GET", f"/_sim/calls/{call_id}"))

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "speed": …}``; raises PhoneError when the simulator cannot be reached."""
        return dict(self._request("GET", "/_sim/health"))


class AsyncVirtualPhone:
    """:class:`VirtualPhone`'s twin for asyncio code: the same verbs, awaited, over one aiohttp session.

    Use it as ``async with AsyncVirtualPhone(base_url) as phone:``; ``limit`` caps the connections kept
    open to the simulator.
    """

    def __init__(self, base_url: str, timeout: float | None = 10.0, limit: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout  # seconds to wait for the simulator to answer
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AsyncVirtualPhone({self.base_url!r})"

    async def __aenter__(self) -> AsyncVirtualPhone:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections kept open to the simulator."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: dict[str, str] | None = None, params: dict[str, str] | None = None
                      ) -> tuple[Any, Mapping[str, str]]:
        """Send one request to the simulator (``path`` below its root); returns the JSON body (None when
        empty) and the response headers.

        :raises PhoneError: when the simulator answers 4xx/5xx (with its message) or cannot be reached.
        """
        if self._session is None:
            raise RuntimeError("the phone is not open: use it in an async with block")
        try:
            async with self._session.request(method, self.base_url + path, json=json_body, headers=headers,
                                             params=params) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _refusal(response.status, response.reason or "", text)
                return (json.loads(text) if text else None), response.headers
        except aiohttp.ClientConnectionError as exc:
            raise PhoneError(
                0, None, f"cannot reach the simulator at {self.base_url}: is it running? ({exc})"
            ) from None

    async def press(self, call_id: str, digits: str, gap: float = 0.25,
                    at: Sequence[str] | None = None) -> None:
        """The caller presses ``digits``; as :meth:`VirtualPhone.press`."""
        await self.request("POST", f"/_sim/calls/{call_id}/press", json_body=_press_body(digits, gap, at))

    async def hang_up(self, call_id: str, at: str | None = None) -> None:
        """The caller hangs up; as :meth:`VirtualPhone.hang_up`."""
        await self.request("POST", f"/_sim/calls/{call_id}/hangup", json_body={"at": at} if at else None)

    async def incoming(self, from_: str, to: str, callback_url: str, **options: Any) -> str:
        """Ring the application; returns the new call's id. As :meth:`VirtualPhone.incoming`."""
        body = {"from": from_, "to": to, "callbackUrl": callback_url, **options}
        data, _ = await self.request("POST", "/_sim/incoming", json_body=body)
        return str(data["callId"])

    async def incoming_v2(self, from_: str, to: str, application_url: str, **options: Any) -> str:
        """Ring a v2 application; returns the new call's id. As :meth:`VirtualPhone.incoming_v2`."""
        body = {"from": from_, "to": to, "applicationUrl": application_url, **options}
        data, _ = await self.request("POST", "/_sim/incoming", json_body=body)
        return str(data["callId"])

    async def deliveries(self, call_id: str | None = None) -> RecordFrame:
        """Every callback attempt (oldest first), or only those of ``call_id``; as
        :meth:`VirtualPhone.deliveries`."""
        from catapult_nb.store.records import deliveries_frame

        params = {"callId": call_id} if call_id else None
        data, _ = await self.request("GET", "/_sim/deliveries", params=params)
        return deliveries_frame(list(data))


def _press_body(digits: str, gap: float, at: Sequence[str] | None) -> dict[str, Any]:
    return {"digits": digits, "gap": gap} if at is None else {"digits": digits, "at": list(at)}
