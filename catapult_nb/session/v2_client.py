"""Bandwidth's Voice API v2 for a session: its credentials and a small REST client for calls.

The credentials come from the arguments, else the environment, else a ``.env`` file:

=============================  =======================================================================
``BANDWIDTH_ACCOUNT_ID``        the account id (part of every path: ``/accounts/{accountId}/calls``)
``BANDWIDTH_USERNAME``          the API user's name (HTTP Basic auth)
``BANDWIDTH_PASSWORD``          its password (HTTP Basic auth); never shown
``BANDWIDTH_APPLICATION_ID``    the voice application calls are placed with (``applicationId``)
``BANDWIDTH_FROM_NUMBER``       a number on the account that calls come from
``BANDWIDTH_VOICE_URL``         optional: the API root (default ``https://voice.bandwidth.com/api/v2``)
=============================  =======================================================================

The password is kept wrapped (:class:`~catapult_nb.redact.Secret`): reprs mask it and error messages
are scrubbed of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import requests

from catapult_nb.credentials import CredentialsError, check_secret_text
from catapult_nb.redact import Secret, mask, redact
from catapult_nb.session.calls import SessionError

__all__ = [
    "DEFAULT_V2_URL", "ENV_V2_ACCOUNT_ID", "ENV_V2_APPLICATION_ID", "ENV_V2_FROM_NUMBER", "ENV_V2_PASSWORD",
    "ENV_V2_URL", "ENV_V2_USERNAME", "V2ApiError", "V2Client", "V2Credentials", "load_v2_credentials",
]

#: Bandwidth's Voice API v2.
DEFAULT_V2_URL = "https://voice.bandwidth.com/api/v2"
ENV_V2_ACCOUNT_ID = "BANDWIDTH_ACCOUNT_ID"
ENV_V2_USERNAME = "BANDWIDTH_USERNAME"
ENV_V2_PASSWORD = "BANDWIDTH_PASSWORD"
ENV_V2_APPLICATION_ID = "BANDWIDTH_APPLICATION_ID"
ENV_V2_FROM_NUMBER = "BANDWIDTH_FROM_NUMBER"
ENV_V2_URL = "BANDWIDTH_VOICE_URL"

_HINTS = {
    ENV_V2_ACCOUNT_ID: "your account id (Bandwidth App, top right)",
    ENV_V2_USERNAME: "an API user's name (Account > Users, with the Voice role)",
    ENV_V2_PASSWORD: "that user's password",
    ENV_V2_APPLICATION_ID: "the id of a voice application (Applications)",
    ENV_V2_FROM_NUMBER: "a number on the account, '+1…'",
}


class V2ApiError(SessionError):
    """The v2 API refused a request; ``status`` and ``description`` say what and why."""

    def __init__(self, status: int, description: str) -> None:
        self.status = status
        self.description = description
        super().__init__(f"the v2 API answered {status}: {description}")


@dataclass(frozen=True)
class V2Credentials:
    """What a live v2 session needs. The repr masks the password."""

    account_id: str
    username: str
    password: str = field(repr=False)
    application_id: str
    from_number: str
    base_url: str = DEFAULT_V2_URL

    def __repr__(self) -> str:
        return (f"V2Credentials(account_id={self.account_id!r}, username={self.username!r}, "
                f"password={mask(self.password)!r}, application_id={self.application_id!r}, "
                f"from_number={self.from_number!r}, base_url={self.base_url!r})")


def load_v2_credentials(
    env_file: str | os.PathLike[str] | None = ".env", **given: str | None
) -> V2Credentials:
    """The v2 credentials: ``given`` (``account_id``, ``username``, ``password``, ``application_id``,
    ``from_number``, ``base_url``) first, then the environment, then ``env_file``.

    :raises CredentialsError: a value is missing (each missing variable is named, with where to find it)
        or the password cannot be sent in HTTP Basic auth (the value itself is never shown).
    """
    from_file: dict[str, str | None] = {}
    if env_file is not None and os.path.isfile(env_file):
        from dotenv import dotenv_values

        from_file = dict(dotenv_values(env_file))
    names = {"account_id": ENV_V2_ACCOUNT_ID, "username": ENV_V2_USERNAME, "password": ENV_V2_PASSWORD,
             "application_id": ENV_V2_APPLICATION_ID, "from_number": ENV_V2_FROM_NUMBER,
             "base_url": ENV_V2_URL}
    values: dict[str, str] = {}
    for key, name in names.items():
        value = given.get(key) or os.environ.get(name) or from_file.get(name)
        if value and value.strip():
            values[key] = value.strip()
    missing = [name for key, name in names.items() if key not in values and name != ENV_V2_URL]
    if missing:
        where = f" or in {os.path.abspath(env_file)}" if env_file is not None else ""
        lines = "; ".join(f"{name} ({_HINTS[name]})" for name in missing)
        raise CredentialsError(f"the v2 API needs {lines}: set them in the environment{where}, or pass "
                               "them to Session.live(api='v2', …)")
    check_secret_text("the v2 password", values["password"])
    return V2Credentials(**values)


class V2Client:
    """The v2 calls API: create, read and update calls (HTTP Basic auth, JSON).

    :ivar account_id: the account's id (shown); the password never is.
    """

    def __init__(self, account_id: str, username: str, password: str, *, base_url: str = DEFAULT_V2_URL,
                 application_id: str = "a-catapult-nb", timeout: float = 30.0) -> None:
        self.account_id = str(account_id)
        self.username = username
        self._password = Secret(password)
        self.base_url = base_url.rstrip("/")
        self.application_id = application_id
        self.timeout = timeout
        self._http = requests.Session()
        self._http.auth = (username, password)

    @property
    def user_id(self) -> str:
        """What a session's summary shows as its user: the account (the v2 paths carry it)."""
        return f"account {self.account_id}"

    def create_call(self, *, to: str, from_: str, answer_url: str, **fields: Any) -> dict[str, Any]:
        """``POST /accounts/{accountId}/calls``; ``fields`` are CreateCall's (``disconnectUrl``,
        ``callTimeout``, ``tag``, …). Returns the CreateCallResponse."""
        body = {"to": to, "from": from_, "applicationId": self.application_id, "answerUrl": answer_url,
                **fields}
        return dict(self._request("POST", "/calls", body).json())

    def get_call(self, call_id: str) -> dict[str, Any]:
        """``GET …/calls/{callId}``: the CallState (``state`` initiated | answered | disconnected)."""
        return dict(self._request("GET", f"/calls/{call_id}").json())

    def update_call(self, call_id: str, **fields: Any) -> None:
        """``POST …/calls/{callId}`` (UpdateCall: ``state``, ``redirectUrl``, ``tag``, …)."""
        self._request("POST", f"/calls/{call_id}", fields)

    def hang_up(self, call_id: str) -> None:
        """End the call (``{"state": "completed"}``)."""
        self.update_call(call_id, state="completed")

    def add_response_hook(self, hook: Any) -> None:
        """Call ``hook(response)`` with each answer (a ``requests`` response hook; a session's recorder
        uses it). ``response.request`` carries the credentials: never keep or show its headers."""
        self._http.hooks["response"].append(hook)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: Any = None) -> requests.Response:
        url = f"{self.base_url}/accounts/{self.account_id}{path}"
        try:
            response = self._http.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:  # lower libraries may quote the request: scrub it
            raise SessionError(redact(f"could not reach the v2 API at {self.base_url}: {exc}",
                                      [self._password])) from None
        if response.status_code >= 400:
            try:
                description = str(response.json().get("description") or response.text)
            except ValueError:
                description = response.text[:300] or response.reason
            raise V2ApiError(response.status_code, redact(description, [self._password]))
        return response

    def __repr__(self) -> str:
        return (f"V2Client(account_id={self.account_id!r}, username={self.username!r}, "
                f"password={mask(self._password)!r}, base_url={self.base_url!r})")
