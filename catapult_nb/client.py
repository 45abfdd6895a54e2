"""A small client for the Catapult v1 voice API: calls and gathers, over one ``requests.Session``.

Every method sends one request (plus bounded retries where that is safe) and either returns what the
API answered or raises :class:`CatapultError`, whose message says what happened and what to do next.
The API token and secret go only into the Basic ``Authorization`` header: reprs, log lines and error
messages mask them.

Retries: a ``429`` (rate limited; ``X-RateLimit-Reset`` says when to come back) or ``503`` (unavailable)
is retried with backoff for requests that are safe to repeat — reads, and updates that only set a state
(answer, reject, hang up, stop a gather). Creates, speech, audio and DTMF are never repeated
automatically: a second try could create a second call or play the sentence twice.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from requests.auth import AuthBase, _basic_auth_str

from catapult_nb.api_errors import CatapultError, error_from_response, retry_delay, snippet
from catapult_nb.credentials import (
    DEFAULT_BASE_URL,
    ENV_SECRET,
    ENV_TOKEN,
    ENV_USER_ID,
    check_secret_text,
    load_credentials,
)
from catapult_nb.options import GatherOptions, check_sentence
from catapult_nb.redact import Secret, mask, redact

__all__ = ["DEFAULT_BASE_URL", "CallResource", "CatapultClient", "CatapultError"]

logger = logging.getLogger(__name__)

#: The live v1 API (without the ``/v1``).

#: Statuses worth another try after a pause: rate limited, temporarily unavailable.
RETRY_STATUSES = frozenset({429, 503})

#: Reference §3: ``[A-D0-9#*,wW]+``, at most 92 characters.
_DTMF_OUT = re.compile(r"[0-9A-D#*,wW]{1,92}")
# A callback URL the API echoes back may carry basic-auth credentials and the receiver's secret path.

try:
    _VERSION = metadata.version("catapult_nb")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    _VERSION = "0"
USER_AGENT = f"catapult_nb/{_VERSION} python-requests/{requests.__version__}"


class CallResource(dict):  # type: ignore[type-arg]
    """A call as the API shows it (a plain ``dict`` of the wire fields), whose views hide secrets.

    ``callbackUrl`` and ``fallbackUrl`` may carry basic-auth credentials and the receiver's secret path;
    ``repr``, ``str``, IPython's pretty printer and the HTML view mask them. The values themselves are
    left as the API sent them, for whoever asks explicitly: ``call["callbackUrl"]`` or
    :meth:`unmasked`.
    """

    def masked(self) -> dict[str, Any]:
        """A plain copy with the credentials and secret path of every URL masked, safe to show."""
        return {key: redact(value) if isinstance(value, str) else value for key, value in self.items()}

    def unmasked(self) -> dict[str, Any]:
        """A plain copy with every value as the API sent it (secrets included: do not print it)."""
        return dict(self)

    def __repr__(self) -> str:
        return repr(self.masked())

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.pretty(self.masked())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(key))}</td><td><code>{html.escape(str(value))}</code></td></tr>"
            for key, value in self.masked().items()
        )
        return f"<div class='cnb-call-resource'><b>Call</b><table>{rows}</table></div>"


class CatapultClient:
    """The Catapult v1 voice API for one user: calls, audio, DTMF and gathers.

    :param user_id: the ``u-…`` id that every path starts with (not the portal login name).
    :param api_token: the API token, sent as the Basic auth user name.
    :param api_secret: the API secret, sent as the Basic auth password; never shown anywhere.
    :param base_url: where the API lives, with or without a trailing ``/v1`` — the live API by default, or a
        simulator's ``http://127.0.0.1:PORT``.
    :param timeout: seconds to wait for each answer (a ``(connect, read)`` pair works too).
    :param max_retries: extra tries after a 429 or 503, for requests that are safe to repeat.
    :param max_retry_wait: the longest pause before a retry, in seconds, whatever the server asks for.
    :param backoff: the first pause when the server does not say how long to wait; it doubles each try.
    :param session: a ``requests.Session`` to use (one is made otherwise); its ``auth`` is replaced.

    :raises ValueError: an empty id, a token or secret that cannot be sent, or a base URL that is not
        ``http(s)://host`` (credentials in the URL are refused: pass them as arguments).
    """

    def __init__(
        self,
        user_id: str,
        api_token: str,
        api_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = 10.0,
        *,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError(f"user_id must be your Catapult user id ('u-…'), got {user_id!r}")
        self.user_id = user_id.strip()
        self.base_url = _normalise_base_url(base_url)
        self.timeout = _check_timeout(timeout)
        self.max_retries = max(0, int(max_retries))
        self.max_retry_wait = max(0.0, float(max_retry_wait))
        self.backoff = max(0.0, float(backoff))
        token = check_secret_text("api_token", api_token)
        secret = check_secret_text("api_secret", api_secret)
        self._auth = _BasicAuth(Secret(token), Secret(secret))
        self._session = session or requests.Session()
        self._session.auth = self._auth
        self._session.headers["User-Agent"] = USER_AGENT
        if _is_loopback(self.base_url):
            # A simulator on this machine is never reached through an HTTP(S)_PROXY from the environment.
            self._session.trust_env = False
        self._closed = threading.Event()  # also wakes a retry pause when the client is closed

    @classmethod
    def from_env(
        cls, env_file: str | os.PathLike[str] | None = ".env", **kwargs: Any
    ) -> CatapultClient:
        """A client from ``CATAPULT_USER_ID``, ``CATAPULT_API_TOKEN``, ``CATAPULT_API_SECRET`` (and
        optionally ``CATAPULT_BASE_URL``), read from the environment or else from ``env_file``.

        The ``.env`` file is read without changing ``os.environ``. ``kwargs`` go to the constructor
        (``timeout=``, ``base_url=`` to override the variable, …).

        :raises CredentialsError: (a ``ValueError``) a variable is missing; the message names it and says
            how to set it.
        """
        creds = load_credentials(env_file)
        if creds.base_url and "base_url" not in kwargs:
            kwargs["base_url"] = creds.base_url
        return cls(creds.user_id, creds.api_token, creds.api_secret, **kwargs)

    # -- display -------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The root every path hangs off, e.g. ``https://api.catapult.inetwork.com/v1``."""
        return self.base_url + "/v1"

    def __repr__(self) -> str:
        return (
            f"CatapultClient(user_id={self.user_id!r}, base_url={self.base_url!r}, "
            f"api_token={self._auth.token!r}, api_secret={self._auth.secret!r}, "
            f"timeout={self.timeout!r})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("API", self.api_url),
            ("user id", self.user_id),
            ("API token", mask(self._auth.token.reveal())),
            ("API secret", mask(self._auth.secret.reveal())),
            ("timeout", f"{self.timeout} s"),
            ("retries (429/503, safe requests)", str(self.max_retries)),
            ("state", "closed" if self._closed.is_set() else "open"),
        ]
        cells = "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>" for k, v in rows
        )
        return f"<div><b>CatapultClient</b><table>{cells}</table></div>"

    def add_response_hook(self, hook: Callable[..., Any]) -> None:
        """Call ``hook(response)`` with each answer this client gets, before it is checked (a ``requests``
        response hook); a session's recorder uses it. ``response.request`` is what was sent: its
        ``Authorization`` header holds the credentials, so never keep or show it."""
        self._session.hooks["response"].append(hook)

    def close(self) -> None:
        """Close the connection pool; a retry pause in another thread ends at once."""
        self._closed.set()
        self._session.close()

    def __enter__(self) -> CatapultClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- gather --------------------------------------------------------------------------------------

    def create_gather(
        self, call_id: str, options: GatherOptions | Mapping[str, Any] | None = None, **kwargs: Any
    ) -> str:
        """Start collecting digits on an active call; returns the new gather's id (``gtr-…``).

        ``options`` is a :class:`GatherOptions`, a wire dict (``{"maxDigits": "5", …}``), or leave it out
        and pass Python-named keywords (``max_digits=5, sentence="…"``). The result arrives later as a
        ``gather`` event at the call's callback URL.

        :raises OptionError: (a ``ValueError``) an option the API would refuse; nothing is sent.
        :raises CatapultError: e.g. 409 ``call-duplicate-gather-error`` when a gather is already running.
        """
        if isinstance(options, Mapping) and not isinstance(options, dict):
            options = dict(options)
        body = GatherOptions.coerce(options, **kwargs).to_wire()
        path = f"{self._call_path(call_id)}/gather"
        return self._created_id(self._request("POST", path, body=body), "POST", path)

    def get_gather(self, call_id: str, gather_id: str) -> dict[str, Any]:
        """The gather as the API shows it: ``id``, ``state``, ``reason``, ``digits``, times, ``call``."""
        path = f"{self._call_path(call_id)}/gather/{_segment('gather_id', gather_id)}"
        return self._json_object(self._request("GET", path, retry=True), "GET", path)

    def stop_gather(self, call_id: str, gather_id: str) -> None:
        """Stop a running gather (``{"state": "completed"}``); stopping a finished one changes nothing."""
        path = f"{self._call_path(call_id)}/gather/{_segment('gather_id', gather_id)}"
        self._request("POST", path, body={"state": "completed"}, retry=True)

    # -- calls ---------------------------------------------------------------------------------------

    def create_call(self, from_: str, to: str, callback_url: str | None = None, **fields: Any) -> str:
        """Place an outbound call; returns its id (``c-…``).

        Other fields use Python names and are sent with the API's: ``call_timeout`` → ``callTimeout``,
        ``callback_timeout`` (ms), ``callback_http_method``, ``fallback_url``, ``tag``,
        ``recording_enabled``, ``sip_headers``, … ``None`` values are left out.
        """
        body = {"from": from_, "to": to, "callbackUrl": callback_url, **_wire_fields(fields)}
        body = {k: v for k, v in body.items() if v is not None}
        path = self._user_path("/calls")
        return self._created_id(self._request("POST", path, body=body), "POST", path)

    def get_call(self, call_id: str) -> CallResource:
        """The call's representation: ``state``, ``from``, ``to``, times, callback settings, … as a
        :class:`CallResource` (a dict whose reprs mask the callback URLs' credentials)."""
        path = self._call_path(call_id)
        return CallResource(self._json_object(self._request("GET", path, retry=True), "GET", path))

    def list_calls(self, **query: Any) -> list[CallResource]:
        """Calls of this user, newest first, as :class:`CallResource`; ``query`` filters with Python
        names (``from_``, ``to``, ``bridge_id``, ``conference_id``, ``page``, ``size``, ``sort_order``)."""
        params = {k: v for k, v in _wire_fields(query).items() if v is not None}
        path = self._user_path("/calls")
        body = self._json_objects(self._request("GET", path, params=params, retry=True), "GET", path)
        return [CallResource(item) for item in body]

    def answer_call(self, call_id: str) -> None:
        """Answer an incoming call (``{"state": "active"}``)."""
        self._update_call(call_id, {"state": "active"})

    def reject_call(self, call_id: str) -> None:
        """Reject an incoming call (``{"state": "rejected"}``)."""
        self._update_call(call_id, {"state": "rejected"})

    def hang_up(self, call_id: str) -> None:
        """Hang up (``{"state": "completed"}``)."""
        self._update_call(call_id, {"state": "completed"})

    def hangup_call(self, call_id: str) -> None:
        """Deprecated: :meth:`hang_up`, the name the session, the phone and the simulator use."""
        warnings.warn("CatapultClient.hangup_call() is now hang_up()", DeprecationWarning, stacklevel=2)
        self.hang_up(call_id)

    def transfer_call(self, call_id: str, transfer_to: str, **fields: Any) -> str:
        """Transfer an active call to ``transfer_to``; returns the id of the new leg (``c-…``).

        The API dials ``transfer_to`` and bridges the two calls once it answers. ``fields``:
        ``transfer_caller_id``, ``whisper_audio`` (a dict of audio fields), ``callback_url`` (the new
        leg's events; default the call's), ``diversion_treatment``, ``diversion_reason``.
        """
        body = {"state": "transferring", "transferTo": transfer_to, **_wire_fields(fields)}
        body = {k: v for k, v in body.items() if v is not None}
        path = self._call_path(call_id)
        return self._created_id(self._request("POST", path, body=body), "POST", path)

    def speak_sentence(self, call_id: str, sentence: str, **fields: Any) -> None:
        """Speak ``sentence`` on the call (``""`` stops speaking). ``fields``: ``gender``, ``locale``,
        ``voice``, ``loop_enabled``, ``tag``, ``volume``.

        :raises catapult_nb.options.OptionError: a sentence the API would refuse (over 1,000 characters,
            a control character); nothing is sent then.
        """
        if sentence:
            check_sentence(sentence)
        self._audio(call_id, {"sentence": sentence, **_wire_fields(fields)})

    def play_audio(self, call_id: str, file_url: str, **fields: Any) -> None:
        """Play a WAV or MP3 file on the call (``""`` stops playback). ``fields``: ``loop_enabled``,
        ``tag``, ``volume``."""
        self._audio(call_id, {"fileUrl": file_url, **_wire_fields(fields)})

    def send_dtmf(self, call_id: str, dtmf_out: str) -> None:
        """Send DTMF tones to the far end: ``0-9 * # A-D``, with ``,``/``w`` (0.5 s) or ``W`` (1 s) pauses.

        :raises ValueError: ``dtmf_out`` is empty, longer than 92 characters or has other characters.
        """
        if not isinstance(dtmf_out, str) or not _DTMF_OUT.fullmatch(dtmf_out):
            raise ValueError(
                "dtmf_out must be 1 to 92 of 0-9 * # A-D with pauses , w (0.5 s) or W (1 s), "
                f"got {dtmf_out!r}"
            )
        path = f"{self._call_path(call_id)}/dtmf"
        self._request("POST", path, body={"dtmfOut": dtmf_out})

    def get_call_events(self, call_id: str) -> list[dict[str, Any]]:
        """The call's event log: ``[{"id", "time", "name", "data"?}, …]``."""
        path = f"{self._call_path(call_id)}/events"
        return self._json_objects(self._request("GET", path, retry=True), "GET", path)

    # -- plumbing ------------------------------------------------------------------------------------

    def _user_path(self, tail: str) -> str:
        return f"/users/{_segment('user_id', self.user_id)}{tail}"

    def _call_path(self, call_id: str) -> str:
        return self._user_path(f"/calls/{_segment('call_id', call_id)}")

    def _update_call(self, call_id: str, body: dict[str, Any]) -> None:
        # Setting a state is idempotent, so a 429/503 may be retried.
        self._request("POST", self._call_path(call_id), body=body, retry=True)

    def _audio(self, call_id: str, body: dict[str, Any]) -> None:
        body = {k: v for k, v in body.items() if v is not None}
        self._request("POST", f"{self._call_path(call_id)}/audio", body=body)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        retry: bool = False,
    ) -> requests.Response:
        """Send one request (retrying 429/503 when ``retry``); return a 2xx response or raise."""
        shown_path = "/v1" + path
        if self._closed.is_set():
            raise CatapultError(
                "this client is closed", method=method, path=shown_path, hint="Make a new CatapultClient."
            )
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        attempts = 1 + (self.max_retries if retry else 0)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            failure: CatapultError | None = None
            try:
                response = self._session.request(
                    method, self.api_url + path, data=data, params=params, headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                failure = self._transport_error(exc, method, shown_path)
            if failure is not None:
                # Raised outside the except block on purpose: the requests exception holds the prepared
                # request, Authorization header included, and must not travel along as __context__.
                logger.debug("%s %s failed: %s", method, shown_path, failure.message)
                raise failure
            status = response.status_code
            logger.debug(
                "%s %s → %d (%.0f ms)", method, shown_path, status, 1000 * (time.monotonic() - started)
            )
            if status in RETRY_STATUSES and attempt < attempts:
                delay = retry_delay(
                    response.headers, attempt, backoff=self.backoff, cap=self.max_retry_wait
                )
                logger.info(
                    "%s %s → %d; retrying in %.3f s (attempt %d of %d)",
                    method, shown_path, status, delay, attempt + 1, attempts,
                )
                response.close()
                if self._closed.wait(delay):
                    raise CatapultError(
                        f"the client was closed while waiting to retry after HTTP {status}",
                        status=status, method=method, path=shown_path,
                    )
                continue
            if status >= 400:
                raise error_from_response(
                    response, method, shown_path, secrets=self._auth.revealed(), attempts=attempt,
                    retried=retry,
                )
            return response
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _transport_error(self, exc: requests.RequestException, method: str, path: str) -> CatapultError:
        reason = redact(_root_reason(exc), self._auth.revealed())
        if isinstance(exc, requests.ConnectTimeout):
            message = f"could not connect to {self.base_url} within {self.timeout} s ({reason})"
            hint = "Check the base URL and the network (for the simulator: is it running?)"
        elif isinstance(exc, requests.Timeout):
            message = f"no answer from {self.base_url} within {self.timeout} s"
            hint = (
                "The API is slow or unreachable: try again, or pass a larger timeout= to CatapultClient. "
                "A create may still have happened: check (get_call / list_calls) before repeating it"
            )
        elif isinstance(exc, requests.ConnectionError):
            message = f"could not connect to {self.base_url} ({reason})"
            hint = "Check the base URL and the network (for the simulator: is it running?)"
        else:
            message = f"the request could not be sent ({type(exc).__name__}: {reason})"
            hint = "Check the base URL and the ids passed in"
        return CatapultError(message, method=method, path=path, hint=hint)

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            shown = redact(snippet(response.text), self._auth.revealed())
            raise CatapultError(
                f"expected a JSON body, got {shown or 'an empty body'}",
                status=response.status_code, method=method, path="/v1" + path,
                hint="Check that the base URL points at a Catapult v1 API",
            ) from None

    def _json_object(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        body = self._json(response, method, path)
        if not isinstance(body, dict):
            raise self._shape_error(response, method, path, "a JSON object", f"a JSON {_json_kind(body)}")
        return body

    def _json_objects(self, response: requests.Response, method: str, path: str) -> list[dict[str, Any]]:
        body = self._json(response, method, path)
        if not isinstance(body, list):
            got = f"a JSON {_json_kind(body)}"
        else:
            odd = [item for item in body if not isinstance(item, dict)]
            if not odd:
                return body
            got = f"an array holding a JSON {_json_kind(odd[0])}"
        raise self._shape_error(response, method, path, "a JSON array of objects", got)

    @staticmethod
    def _shape_error(response: requests.Response, method: str, path: str, expected: str,
                     got: str) -> CatapultError:
        # names the body's type only: a wrong-shaped answer may still carry values not meant for output
        return CatapultError(
            f"expected {expected}, got {got}",
            status=response.status_code, method=method, path="/v1" + path,
            hint="Check that the base URL points at a Catapult v1 API",
        )

    def _created_id(self, response: requests.Response, method: str, path: str) -> str:
        location = response.headers.get("Location", "")
        new_id = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]) if location else ""
        if not new_id:
            raise CatapultError(
                f"the API answered {response.status_code} without a Location header, "
                "so the new resource's id is unknown",
                status=response.status_code, method=method, path="/v1" + path,
                hint="Check that the base URL points at a Catapult v1 API",
            )
        return new_id


# --------------------------------------------------------------------------------------------------


def _json_kind(value: object) -> str:
    """JSON's name for a parsed value's type (``object``, ``array``, ``string``, …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else type(value).__name__


class _BasicAuth(AuthBase):
    """HTTP Basic auth whose token and secret are :class:`Secret` (so ``vars(session)`` shows masks)."""

    def __init__(self, token: Secret, secret: Secret) -> None:
        self.token = token
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = _basic_auth_str(self.token.reveal(), self.secret.reveal())
        return request

    def revealed(self) -> tuple[str, str]:
        """The clear values, only to scrub them out of text."""
        return self.token.reveal(), self.secret.reveal()

    def __repr__(self) -> str:
        return f"_BasicAuth(token={self.token!r}, secret={self.secret!r})"


def _is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_timeout(timeout: Any) -> float | tuple[float, float]:
    """A positive number of seconds, or a ``(connect, read)`` pair of them (requests' two timeouts)."""
    def positive(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")

    if positive(timeout):
        return float(timeout)
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(positive(v) for v in timeout):
        return (float(timeout[0]), float(timeout[1]))
    raise ValueError(
        f"timeout must be a positive number of seconds (or a (connect, read) pair), got {timeout!r}; "
        "every request needs one, so None is not allowed"
    )


def _normalise_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise ValueError(f"base_url must be a URL string, got {type(base_url).__name__}")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo base_url: a user may have pasted credentials into it.
        raise ValueError(
            "base_url must look like https://api.catapult.inetwork.com or http://127.0.0.1:8900"
        )
    if parts.username or parts.password:
        raise ValueError(
            "base_url must not contain credentials; pass api_token= and api_secret= (or set "
            f"{ENV_TOKEN} / {ENV_SECRET}) instead"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _segment(name: str, value: Any) -> str:
    """An id as one path segment; quoting keeps a stray ``/`` or ``?`` from changing the path."""
    if not isinstance(value, str) or not value.strip():
        hint = {"call_id": "'c-…'", "gather_id": "'gtr-…'", "user_id": f"'u-…' ({ENV_USER_ID})"}.get(name)
        raise ValueError(f"{name} must be a non-empty id such as {hint}, got {value!r}")
    return quote(value.strip(), safe="")


def _wire_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Python keyword names to the API's (``callback_http_method`` → ``callbackHttpMethod``,
    ``from_`` → ``from``); names already in the API's spelling pass through."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        head, *rest = name.rstrip("_").split("_")
        out[head + "".join(part[:1].upper() + part[1:] for part in rest)] = value
    return out


def _root_reason(exc: BaseException) -> str:
    """The useful part of a requests exception ("Connection refused"), not the whole pool chatter."""
    reason: Any = exc
    if exc.args and hasattr(exc.args[0], "reason") and exc.args[0].reason is not None:
        reason = exc.args[0].reason
    text = str(reason)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return match.group(1).strip() if match else snippet(text)
