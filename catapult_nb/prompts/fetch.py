"""Fetch an audio file over http(s) the way a phone platform would, with a size cap and a deadline.

One transport (aiohttp) and one deadline for the whole fetch: :func:`fetch_audio` runs on the simulator's
event loop, :func:`fetch_audio_sync` on a loop of its own (for campaigns and notebooks). Both return what
:func:`decode` read, or raise :class:`AudioError` with the reason in one line. The reason never repeats
the URL, which may carry a receiver's secret path or credentials.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from catapult_nb.prompts.audio import AudioError, AudioInfo, decode

__all__ = [
    "FETCH_TIMEOUT", "MAX_AUDIO_BYTES", "check_url", "download_audio", "download_audio_sync", "fetch_audio",
    "fetch_audio_sync", "read_audio_file",
]

#: Largest file fetched (10 MiB: ten minutes of 8 kHz 16-bit audio); a bigger one is not played.
MAX_AUDIO_BYTES = 10 * 1024 * 1024
#: Seconds (wall) a fetch may take when the caller gives no deadline: v1's longest callback timeout.
FETCH_TIMEOUT = 10.0


def check_url(url: str) -> None:
    """:raises AudioError: unless ``url`` is an absolute http or https URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AudioError("the file URL is not an absolute http or https URL")


def _too_big(size: int) -> AudioError:
    return AudioError(f"the file is over {MAX_AUDIO_BYTES // (1024 * 1024)} MiB ({size:,} bytes or more)")


def read_audio_file(path: str | os.PathLike[str]) -> tuple[bytes, AudioInfo]:
    """Read and decode a local WAV or MP3 file, under the same size limit as a fetched one.

    Only a regular file is read, and only after its size is checked: a device (``/dev/zero``) or a named
    pipe is refused at once instead of filling memory or blocking.

    :param path: the file.
    :returns: its bytes and their :class:`AudioInfo`.
    :raises FileNotFoundError: when there is no such file.
    :raises AudioError: when it is not a regular file, is over :data:`MAX_AUDIO_BYTES`, or is not WAV/MP3.
    """
    file = Path(path).expanduser()
    try:
        status = file.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"no file at {path!s}: give the path of a WAV or MP3 file") from None
    if not stat.S_ISREG(status.st_mode):
        raise AudioError(f"{path!s} is not a regular file (a device, pipe or folder): give a WAV or MP3 file")
    if status.st_size > MAX_AUDIO_BYTES:
        raise AudioError(
            f"{file.name} is over {MAX_AUDIO_BYTES // (1024 * 1024)} MiB ({status.st_size:,} bytes), "
            "the most the simulator fetches: shorten it or lower its sample rate"
        )
    with file.open("rb") as opened:
        data = opened.read(MAX_AUDIO_BYTES + 1)  # it may have grown since the stat
    if len(data) > MAX_AUDIO_BYTES:
        raise _too_big(len(data))
    return data, decode(data)


def _status(status: int, reason: str | None) -> AudioError:
    return AudioError(f"the file server answered HTTP {status} {reason or ''}".rstrip())


async def _read(url: str, session: aiohttp.ClientSession) -> tuple[bytes, str | None]:
    async with session.get(url, allow_redirects=True) as response:
        if not 200 <= response.status < 300:
            raise _status(response.status, response.reason)
        if response.content_length is not None and response.content_length > MAX_AUDIO_BYTES:
            raise _too_big(response.content_length)
        body = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            body += chunk
            if len(body) > MAX_AUDIO_BYTES:
                raise _too_big(len(body))
        return bytes(body), response.headers.get("Content-Type")


async def download_audio(
    url: str, *, timeout: float = FETCH_TIMEOUT, session: aiohttp.ClientSession | None = None
) -> tuple[bytes, AudioInfo]:
    """:func:`fetch_audio` that also returns the file's bytes (to embed a player); same arguments, errors."""
    check_url(url)

    async def fetch() -> tuple[bytes, str | None]:
        if session is not None:
            return await _read(url, session)
        async with aiohttp.ClientSession() as own:
            return await _read(url, own)

    try:
        data, content_type = await asyncio.wait_for(fetch(), timeout)
    except (TimeoutError, asyncio.TimeoutError):
        raise AudioError(f"the file did not arrive within {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise AudioError(f"the file could not be fetched: {type(exc).__name__}") from None
    return data, decode(data, content_type)


async def fetch_audio(
    url: str, *, timeout: float = FETCH_TIMEOUT, session: aiohttp.ClientSession | None = None
) -> AudioInfo:
    """Download and decode an audio file within ``timeout`` wall seconds.

    :param url: an http or https URL of a WAV or MP3 file.
    :param timeout: the whole fetch's deadline, in wall seconds.
    :param session: an aiohttp session to reuse (one is opened and closed when omitted).
    :returns: the :class:`AudioInfo` of the file.
    :raises AudioError: the file could not be fetched in time, was too big, or is not WAV/MP3.
    """
    return (await download_audio(url, timeout=timeout, session=session))[1]


def fetch_audio_sync(url: str, *, timeout: float = FETCH_TIMEOUT) -> AudioInfo:
    """:func:`fetch_audio` without an event loop of the caller's; same arguments, same errors."""
    return download_audio_sync(url, timeout=timeout)[1]


def download_audio_sync(url: str, *, timeout: float = FETCH_TIMEOUT) -> tuple[bytes, AudioInfo]:
    """:func:`download_audio` without an event loop of the caller's: it runs on a loop of its own.

    The same transport as the simulator's, so the same whole-fetch deadline: a server that drips its
    answer a byte at a time is cut at ``timeout``, which a per-read timeout never does.
    """
    check_url(url)
    outcome: list[Any] = []

    def fetch() -> None:  # a loop of its own, on a thread of its own: the caller's thread may run one
        try:
            outcome[:] = [asyncio.run(download_audio(url, timeout=timeout))]
        except BaseException as exc:  # handed to the calling thread below
            outcome[:] = [None, exc]

    thread = threading.Thread(target=fetch, name="catapult-nb-fetch", daemon=True)
    thread.start()
    thread.join()
    if len(outcome) == 2:
        raise outcome[1]
    return outcome[0]  # type: ignore[no-any-return]
