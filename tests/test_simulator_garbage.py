"""The simulator's garbage-collector pacing: young passes while busy, a full pass when it falls quiet."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest

from catapult_nb.simulator.garbage import Tidier


class Made:
    """An object the collector tracks (an instance with a ``__dict__``)."""


@pytest.fixture
def passes() -> Iterator[list[tuple[int, str]]]:
    """Every collector pass while the test runs, as (generation, thread name)."""
    seen: list[tuple[int, str]] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append((info["generation"], threading.current_thread().name))

    gc.callbacks.append(note)
    yield seen
    gc.callbacks.remove(note)


@pytest.fixture
def no_young_passes_of_its_own() -> Iterator[None]:
    """The collector's own young passes never start (as when a process frees as much as it makes)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(10**9, *thresholds[1:])
    yield
    gc.set_threshold(*thresholds)


async def until(condition, timeout: float = 10.0) -> None:
    """Let the loop run until ``condition()`` holds (AssertionError after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.005)


def young(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(0))


def test_objects_made_while_busy_leave_the_young_generation(no_young_passes_of_its_own) -> None:
    async def main() -> None:
        tidier = Tidier(asyncio.get_running_loop(), interval=0.01)
        made = Made()
        assert young(made)
        tidier.worked(made=1)
        await until(lambda: not young(made))
        await until(lambda: not tidier.looking)  # quiet again: it stops looking

    asyncio.run(main())


def test_without_the_tidier_they_stay_young(no_young_passes_of_its_own) -> None:
    """The test above could not pass by itself: nothing else moves the object out."""
    async def main() -> None:
        made = Made()
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert young(made)

    asyncio.run(main())


def test_a_quiet_moment_after_enough_calls_gets_one_full_pass(passes) -> None:
    async def main() -> None:
        tidier = Tidier(asyncio.get_running_loop(), interval=0.01, full_after=3)
        tidier.worked(made=3)
        await until(lambda: not tidier.looking)

    asyncio.run(main())
    assert (2, threading.current_thread().name) in passes


def test_fewer_calls_than_the_bound_get_no_full_pass(passes) -> None:
    async def main() -> None:
        tidier = Tidier(asyncio.get_running_loop(), interval=0.01, full_after=3)
        tidier.worked(made=2)
        await until(lambda: not tidier.looking)

    asyncio.run(main())
    mine = [generation for generation, thread in passes if thread == threading.current_thread().name]
    assert mine and 2 not in mine  # a young pass ran, no full one


def test_nothing_is_planned_while_the_collector_is_disabled() -> None:
    async def main() -> None:
        tidier = Tidier(asyncio.get_running_loop(), interval=0.01, full_after=1)
        gc.disable()
        try:
            tidier.worked(made=5)
            assert not tidier.looking
        finally:
            gc.enable()
        tidier.worked()
        assert tidier.looking
        tidier.close()
        assert not tidier.looking

    asyncio.run(main())
