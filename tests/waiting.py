"""Waiting on a condition in tests: never a sleep that hopes something has happened by then."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, about: str = "the condition") -> T:
    """``condition()``'s first truthy value, asked every 5 ms (AssertionError after ``timeout`` seconds,
    naming ``about`` and the last value)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{about} did not hold within {timeout:g} s (last: {value!r})")
        pause.wait(0.005)  # another thread changes the state; ask again soon
