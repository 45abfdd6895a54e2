"""How long an audio file plays: WAV through the standard library, MP3 through mutagen.

Only what a phone platform needs is read: the format, the sample rate, the channels and the length. A file
that is neither (an HTML error page, a truncated header, an empty body) raises :class:`AudioError` whose
message is the reason the simulator records, never a traceback.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

from catapult_nb.errors import Error

__all__ = ["AudioError", "AudioInfo", "decode"]


class AudioError(Error, ValueError):
    """An audio file that cannot be fetched or decoded; ``str()`` says why, in one line."""


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`decode` read from an audio file."""

    format: str  # "wav" or "mp3"
    duration: float  # seconds of audio
    sample_rate: int  # Hz
    channels: int
    size: int  # bytes in the file


def _looks_like(data: bytes) -> str:
    head = data[:64].lstrip()
    if head[:1] == b"<":
        return "an HTML or XML page"
    if head[:1] in (b"{", b"["):
        return "JSON"
    try:
        text = data[:40].decode("ascii")
    except UnicodeDecodeError:
        return f"unknown binary data starting {data[:8].hex(' ')}"
    return f"text starting {text!r}" if text.isprintable() else f"data starting {data[:8].hex(' ')}"


def _riff_duration(data: bytes) -> tuple[float, int, int]:
    """Length from the RIFF chunks alone, for WAV encodings ``wave`` does not read (mu-law, a-law, ...)."""
    position, fmt, data_size = 12, None, None
    while position + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, position)
        if chunk == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHII", data, position + 8)  # format, channels, rate, byte rate
        elif chunk == b"data":
            data_size = min(size, len(data) - position - 8)
            break
        position += 8 + size + (size & 1)
    if fmt is None or data_size is None:
        raise AudioError("malformed WAV header: no fmt or data chunk")
    _, channels, rate, byte_rate = fmt
    if not byte_rate or not rate:
        raise AudioError("malformed WAV header: a zero sample or byte rate")
    return data_size / byte_rate, rate, channels


def _wav(data: bytes) -> AudioInfo:
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            rate, channels, frames = wav.getframerate(), wav.getnchannels(), wav.getnframes()
            if not rate:
                raise AudioError("malformed WAV header: a zero sample rate")
            duration = frames / rate
    except wave.Error as exc:
        if "unknown format" not in str(exc):
            raise AudioError(f"malformed WAV header: {exc}") from None
        duration, rate, channels = _riff_duration(data)
    except (EOFError, struct.error) as exc:
        raise AudioError(f"malformed WAV header: {exc or 'the file ends inside it'}") from None
    return AudioInfo("wav", duration, rate, channels, len(data))


def _mp3(data: bytes) -> AudioInfo:
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    read_mp3 = cast(Callable[[IO[bytes]], Any], MP3)  # mutagen has no type hints
    try:
        info = read_mp3(io.BytesIO(data)).info
    except MutagenError as exc:
        raise AudioError(f"not a readable MP3: {exc}") from None
    if info is None or not info.length:
        raise AudioError("not a readable MP3: it has no audio frames")
    return AudioInfo("mp3", float(info.length), int(info.sample_rate), int(info.channels), len(data))


def decode(data: bytes, content_type: str | None = None) -> AudioInfo:
    """Read a WAV or MP3 file's length.

    The format is told by the file's first bytes (``RIFF…WAVE``, an ``ID3`` tag or an MPEG frame sync),
    not by its name; ``content_type`` (the server's ``Content-Type``) only sharpens the error message.

    :param data: the whole file.
    :param content_type: the HTTP ``Content-Type`` it came with, if any.
    :returns: the :class:`AudioInfo`.
    :raises AudioError: when it is neither WAV nor MP3, or its header is broken; the message says which.
    """
    if not data:
        raise AudioError("the file is empty")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return _mp3(data)
    served = f" (served as {content_type.split(';')[0].strip()})" if content_type else ""
    raise AudioError(f"not a WAV or MP3 file: got {_looks_like(data)}{served}")
