"""The one redaction helper: how secrets are kept, and what is shown in their place.

Every secret the toolkit holds (API secret and token, a receiver's path token, basic-auth passwords, the
ngrok authtoken) is kept in a :class:`Secret`, so even ``vars(obj)`` or a debugger shows :data:`MASK`.
Text that may carry one (an error message, a URL, a log line) goes through :func:`redact` before anybody
sees it. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "Secret", "mask", "redact", "redact_path", "redact_url", "scrub", "url_password"]

#: Shown in place of a secret. Fixed, so not even the length leaks.
MASK = "***"

# user:password@ in any URL; the password is masked, the user kept (it says which account)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:'\"]*:)[^/\s@'\"]+@")
# user@ without a password can still be a token (ngrok's and Catapult's URLs take token@host)
_URL_USER_ONLY = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@:'\"]+@")
# the receiver's secret path: /callbacks/<token>
_CALLBACK_TOKEN = re.compile(r"(/callbacks/)[^/?#\s'\"]+")


class Secret:
    """A string that does not show itself: repr and str are masked, :meth:`reveal` gives the value.

    Objects that must keep a secret hold it in one of these, so even ``vars(obj)`` or a debugger's
    variable view shows the mask.

    :param value: the secret.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """:returns: the secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return repr(mask(self._value))

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # never pickled in the clear by accident (a saved notebook state, a multiprocessing payload)
        raise TypeError("a Secret cannot be pickled; pass the credentials again where they are needed")


def mask(value: str | Secret | None) -> str:
    """What to print instead of a secret.

    :returns: :data:`MASK` when the secret is set, ``(not set)`` when it is empty or ``None``.
    """
    return MASK if value else "(not set)"


def scrub(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """Remove every given secret from ``text``, plain or inside a Basic ``Authorization`` value.

    :param secrets: the secrets to hide, longest matched first; with two or more, the first two are
        also hidden as the base64 of ``first:second`` (a Basic auth header).
    :returns: ``text`` with each of them replaced by :data:`MASK`.
    """
    given = [s.reveal() if isinstance(s, Secret) else s for s in secrets]
    values = [s for s in given if s]
    pair = f"{values[0]}:{values[1]}".encode("utf-8", "replace") if len(values) >= 2 else None
    for secret in sorted(values, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if pair is not None:  # Basic auth is "token:secret" in base64, so the secret can also hide there
        text = text.replace(base64.b64encode(pair).decode("ascii"), MASK)
    return text


def redact(text: str, secrets: Iterable[str | Secret | None] = ()) -> str:
    """``text`` with the given secrets, URL passwords and callback tokens masked.

    :param text: a message, a log line or a URL.
    :param secrets: known secrets to hide as well (see :func:`scrub`).
    :returns: the text, safe to show.
    """
    text = scrub(text, secrets)
    text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    text = _URL_USER_ONLY.sub(r"\1" + MASK + "@", text)
    return _CALLBACK_TOKEN.sub(r"\1" + MASK, text)


def redact_url(url: str | None) -> str | None:
    """``url`` with the password of any ``user:password@`` part, and the token of a receiver's secret
    ``/callbacks/<token>`` path, replaced by :data:`MASK`.

    :returns: the URL otherwise as given, ``None`` for ``None``.
    """
    if not url:
        return url
    url = _CALLBACK_TOKEN.sub(r"\1" + MASK, url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    netloc = f"{parts.username}:{MASK}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def url_password(url: str | None) -> str | None:
    """The password of ``url``'s ``user:password@`` part: a secret to pass to :func:`redact` or
    :func:`scrub`, so it is hidden wherever it shows (an error message may quote it on its own).

    :returns: ``None`` when there is none, or when ``url`` is no URL urllib can read.
    """
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def redact_path(path: str) -> str:
    """A URL path with everything after its first segment masked (``/callbacks/***``).

    :param path: a path whose later segments carry a secret.
    :returns: ``""`` for an empty path, ``/***`` for a single segment.
    """
    segments = [s for s in path.split("/") if s]
    if not segments:
        return ""
    if len(segments) == 1:
        return "/" + MASK
    return f"/{segments[0]}/" + "/".join(MASK for _ in segments[1:])
