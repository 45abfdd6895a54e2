"""The pytest fixture's simulator as a Bandwidth Voice API v2 app sees it (``catapult_simulator.v2``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catapult_nb.pytest_plugin import CatapultSimulator
    from catapult_nb.store.records import RecordFrame

__all__ = ["V2Simulator"]


class V2Simulator:
    """A :class:`CatapultSimulator` as a Bandwidth Voice API v2 app sees it: the v2 API's root and
    credentials, a v2 ring, and the same phone, waits and inspector (``wait_for(call_id, "gather")``
    returns the v2 webhook's payload). Get it from ``catapult_simulator.v2``.

    :param simulator: the fixture's simulator.
    """

    def __init__(self, simulator: CatapultSimulator) -> None:
        self._sim = simulator
        # the caller, the waits and the inspector are the fixture's own, for both dialects
        self.press = simulator.press
        self.hang_up = simulator.hang_up
        self.wait_for = simulator.wait_for
        self.next_event = simulator.next_event
        self.deliveries = simulator.deliveries
        self.event_list = simulator.event_list
        self.serve = simulator.serve

    @property
    def events(self) -> RecordFrame:
        """The payloads the simulator sent, one row each (:attr:`CatapultSimulator.events`)."""
        return self._sim.events

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/api/v2``: the SDK's ``Configuration(host=…)`` (with
        ``ignore_operation_servers=True``)."""
        return self._sim.simulator.v2_api_url

    @property
    def account_id(self) -> str:
        return self._sim.simulator.account_id

    @property
    def username(self) -> str:
        """The Basic auth user name (the same pair as v1's token and secret)."""
        return self._sim.api_token

    @property
    def password(self) -> str:
        return self._sim.api_secret

    @property
    def calls_url(self) -> str:
        """``url + "/accounts/{account_id}/calls"``, for a plain HTTP client."""
        return f"{self.url}/accounts/{self.account_id}/calls"

    def incoming(self, from_: str, to: str, application_url: str, **options: Any) -> str:
        """Ring your v2 app: an ``initiate`` webhook goes to ``application_url`` and the BXML it answers
        with runs; returns the call id. ``options``: ``disconnectUrl`` (default: ``application_url``),
        ``fallbackUrl``, ``applicationId``, ``username``/``password``, ``callbackTimeout`` (seconds).

        :raises PhoneError: the simulator refused the call (a bad number or URL); the message says why.
        """
        return self._sim.phone.incoming_v2(from_, to, application_url, **options)

    def call_info(self, call_id: str) -> dict[str, Any]:
        """The simulator's view of the call: state, ``cause``, ``errorMessage`` (why BXML was invalid),
        the prompts it measured and the last BXML documents it ran."""
        return self._sim.phone.call_info(call_id)

    def __repr__(self) -> str:
        where = self.url if self._sim.simulator.running else "not running"
        return f"V2Simulator({where}, account_id={self.account_id!r})"


# --------------------------------------------------------------------------------------------------
# pytest hooks and fixtures
