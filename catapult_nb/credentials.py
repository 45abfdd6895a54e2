"""Catapult credentials: where they come from, and how they are kept out of sight.

The live API needs three values: the user id (it is part of every path), the API token (Basic auth user
name) and the API secret (Basic auth password). They come from the environment variables
``CATAPULT_USER_ID``, ``CATAPULT_API_TOKEN`` and ``CATAPULT_API_SECRET`` or from a ``.env`` file; an
optional ``CATAPULT_BASE_URL`` points the client somewhere else (the simulator, say).

The token and the secret are never shown: :func:`mask` is what every repr in the toolkit prints instead,
and :func:`scrub` removes them (and their Basic-auth encoding) from any text that might carry them, such
as an error message from a lower library.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from catapult_nb.errors import Error
from catapult_nb.redact import mask

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_BASE_URL",
    "ENV_FROM_NUMBER",
    "ENV_SECRET",
    "ENV_TOKEN",
    "ENV_USER_ID",
    "Credentials",
    "CredentialsError",
    "load_credentials",
]

#: The live v1 API.
DEFAULT_BASE_URL = "https://api.catapult.inetwork.com"

ENV_USER_ID = "CATAPULT_USER_ID"
ENV_TOKEN = "CATAPULT_API_TOKEN"
ENV_SECRET = "CATAPULT_API_SECRET"
ENV_BASE_URL = "CATAPULT_BASE_URL"
ENV_FROM_NUMBER = "CATAPULT_FROM_NUMBER"  # the number live calls come from

class CredentialsError(Error, ValueError):
    """Credentials are missing or unusable; the message says which variable and how to set it."""


def check_secret_text(name: str, value: object) -> str:
    """Check a token or secret without ever echoing it; surrounding whitespace (a pasted newline) is
    dropped.

    :raises CredentialsError: not a string, empty, or holding characters HTTP Basic auth cannot carry.
    """
    if not isinstance(value, str):
        raise CredentialsError(f"{name} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise CredentialsError(f"{name} is empty: copy it again from the Catapult portal")
    if not text.isascii() or not text.isprintable() or any(ch.isspace() for ch in text):
        # The value itself must not appear here: it is (or contains) a secret.
        raise CredentialsError(
            f"{name} contains spaces or characters that are not printable ASCII, so it cannot be sent "
            "in HTTP Basic auth; copy it again from the Catapult portal"
        )
    return text


@dataclass(frozen=True)
class Credentials:
    """The three values the live API needs, plus where the API lives. The repr masks token and secret."""

    user_id: str  # part of every path: /v1/users/{user_id}/...
    api_token: str = field(repr=False)  # Basic auth user name
    api_secret: str = field(repr=False)  # Basic auth password
    base_url: str | None = None  # None: the client's default (the live API)
    source: str = "arguments"  # where the values came from, for messages

    def __repr__(self) -> str:
        return (
            f"Credentials(user_id={self.user_id!r}, api_token={mask(self.api_token)!r}, "
            f"api_secret={mask(self.api_secret)!r}, base_url={self.base_url!r}, source={self.source!r})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("user id", self.user_id),
            ("API token", mask(self.api_token)),
            ("API secret", mask(self.api_secret)),
            ("base URL", self.base_url or "(default)"),
            ("from", self.source),
        ]
        cells = "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>" for k, v in rows
        )
        return f"<div><b>Catapult credentials</b><table>{cells}</table></div>"


def load_credentials(
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Read the credentials from the environment, then from ``env_file`` for what is still missing.

    The environment wins over the file (as with ``dotenv``'s ``load_dotenv``), and the file is read
    without copying anything into ``os.environ``, so the secret does not leak into child processes.

    :param env_file: a ``.env`` file (``NAME=value`` lines); a file that does not exist is fine, ``None``
        skips it.
    :param environ: the environment to read; ``os.environ`` when not given.

    :raises CredentialsError: a variable is missing or empty (every missing one is named, with how to set
        it), or the token or secret cannot be sent.
    """
    env = os.environ if environ is None else environ
    from_file: dict[str, str | None] = {}
    file_note = ""
    if env_file is not None:
        path = Path(env_file).expanduser()
        if path.is_file():
            from_file = dict(dotenv_values(path))
            file_note = f" or in {path.resolve()}"
        else:
            file_note = f" (there is no {path.resolve()})"

    sources: set[str] = set()

    def get(name: str) -> str | None:
        value = env.get(name)
        if value and value.strip():
            sources.add("environment")
            return value.strip()
        value = from_file.get(name)
        if value and value.strip():
            sources.add(str(env_file))
            return value.strip()
        return None

    values = {name: get(name) for name in (ENV_USER_ID, ENV_TOKEN, ENV_SECRET)}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        names = ", ".join(missing)
        example = "\n".join(f"    {name}=..." for name in missing)
        raise CredentialsError(
            f"{names} {'is' if len(missing) == 1 else 'are'} not set in the environment{file_note}. "
            f"Add these lines to a .env file next to the notebook (keep it out of git):\n{example}\n"
            f"or export {' and '.join(missing)} in the shell that starts Jupyter, then run this again."
        )
    base_url = get(ENV_BASE_URL)
    return Credentials(
        user_id=values[ENV_USER_ID] or "",
        api_token=check_secret_text(ENV_TOKEN, values[ENV_TOKEN]),
        api_secret=check_secret_text(ENV_SECRET, values[ENV_SECRET]),
        base_url=base_url,
        source=" + ".join(sorted(sources)),
    )
