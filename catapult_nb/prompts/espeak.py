"""The thinnest binding to libespeak-ng that renders a sentence to 16-bit PCM: five C calls via ctypes.

The library and its voice data come from the ``espeakng-loader`` wheel (a runtime dependency, so ``pip``
installs them with the toolkit on Linux, macOS and Windows, with nothing to download at run time); a
system libespeak-ng (Debian's ``libespeak-ng1``, conda-forge's ``espeak-ng``) is used when the wheel is
absent. libespeak-ng keeps one global synthesiser, so every call goes through one lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from catapult_nb.errors import Error

__all__ = ["INSTALL_HINT", "Engine", "EngineMissing", "engine", "reset"]

INSTALL_HINT = (
    "text-to-speech needs the espeak-ng engine, which the toolkit's `espeakng-loader` dependency brings: "
    "run `pip install 'catapult_nb[tts]'` or `pip install espeakng-loader` (`make demo` and `make test` "
    "install it)"
)

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() when the data is missing
_RATE = 1  # espeakRATE: words per minute
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EngineMissing(Error, RuntimeError):
    """libespeak-ng could not be found or started; the message says how to install it."""


@dataclass(frozen=True)
class Engine:
    """A started libespeak-ng: call :meth:`synthesize`; everything else is held for it."""

    library: str  # path of the shared library in use
    sample_rate: int  # Hz of the PCM it produces (22050 for espeak-ng)
    _lib: ctypes.CDLL
    _chunks: list[bytes]
    _callback: object  # the ctypes callback, kept alive as long as the library may call it

    def synthesize(self, text: str, voice: str, words_per_minute: int) -> bytes:
        """Render ``text`` with espeak-ng voice ``voice`` (e.g. ``"en-us+f3"``).

        :returns: mono 16-bit little-endian PCM at :attr:`sample_rate`.
        :raises EngineMissing: when espeak-ng does not know the voice (its data is incomplete).
        """
        data = text.encode("utf-8")
        with _LOCK:
            if self._lib.espeak_SetVoiceByName(voice.encode("ascii")) != 0:
                raise EngineMissing(f"espeak-ng has no voice {voice!r} (incomplete data); {INSTALL_HINT}")
            self._lib.espeak_SetParameter(_RATE, words_per_minute, 0)
            self._chunks.clear()
            status = self._lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            pcm = b"".join(self._chunks)
            self._chunks.clear()
        if status != 0:
            raise RuntimeError(f"espeak-ng could not render the sentence (error {status})")
        return pcm


_LOCK = threading.Lock()
_ENGINE: Engine | None = None
_FAILURE: str | None = None


def _candidates() -> Iterator[tuple[str, str | None]]:
    """(library path, folder holding espeak-ng-data or None for the library's own) to try, in order."""
    try:
        import espeakng_loader
    except ImportError:
        pass
    else:
        yield espeakng_loader.get_library_path(), str(Path(espeakng_loader.get_data_path()).parent)
    system = ctypes.util.find_library("espeak-ng")  # runs ldconfig: only looked for when needed
    if system:
        yield system, None


def _start(library: str, data_parent: str | None) -> Engine:
    lib = ctypes.CDLL(library)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]
    path = data_parent.encode() if data_parent else None
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise OSError(f"espeak_Initialize failed ({rate}): the espeak-ng-data folder is missing")
    chunks: list[bytes] = []

    def collect(wav: int, count: int, _events: object) -> int:  # called by the library during espeak_Synth
        if count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    callback = _SYNTH_CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    return Engine(library, rate, lib, chunks, callback)


def engine() -> Engine:
    """The process's espeak-ng, started on first use.

    :raises EngineMissing: when no libespeak-ng can be loaded; the message says how to install one.
    """
    global _ENGINE, _FAILURE
    with _LOCK:
        if _ENGINE is not None:
            return _ENGINE
        if _FAILURE is not None:
            raise EngineMissing(_FAILURE)
        problems = []
        for library, data in _candidates():
            try:
                _ENGINE = _start(library, data)
                return _ENGINE
            except (OSError, AttributeError) as exc:
                problems.append(f"{library}: {exc}")
        tried = f" (tried {'; '.join(problems)})" if problems else ""
        _FAILURE = f"{INSTALL_HINT}{tried}"
        raise EngineMissing(_FAILURE)


def reset() -> None:
    """Forget the engine (or the failure to find one), so the next :func:`engine` looks again."""
    global _ENGINE, _FAILURE
    with _LOCK:
        _ENGINE = None
        _FAILURE = None
