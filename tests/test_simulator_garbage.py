"""The simulator's garbage-collector pacing: young passes while busy, a full pass when it falls quiet after
enough calls and gathers, counted by a running simulator and from the collector's own last full pass."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest
from conftest import Api
from waiting import wait_until

from catapult_nb.simulator import Simulator, state
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


def test_the_count_starts_again_after_the_collectors_own_full_pass(
    passes, no_young_passes_of_its_own,
) -> None:
    async def main() -> None:
        tidier = Tidier(asyncio.get_running_loop(), interval=0.01, full_after=3)
        tidier.worked(made=2)
        await until(lambda: not tidier.looking)
        gc.collect()  # the collector's own full pass: the two calls before it are tidied already
        del passes[:]
        tidier.worked(made=1)
        await until(lambda: not tidier.looking)

    asyncio.run(main())
    assert passes and all(generation < 2 for generation, _ in passes)  # young passes, no full one


# --------------------------------------------------------------------------------------------------
# A running simulator tells its Tidier about each call and gather it makes


@pytest.fixture
def tidiers(monkeypatch: pytest.MonkeyPatch) -> list[Tidier]:
    """The Tidier of each simulator started in the test: quick looks, and a full pass after two calls
    and gathers."""
    made: list[Tidier] = []

    def tidier(loop: asyncio.AbstractEventLoop) -> Tidier:
        made.append(Tidier(loop, interval=0.01, full_after=2))
        return made[-1]

    monkeypatch.setattr(state, "Tidier", tidier)
    return made


def simulator_full_passes(passes: list[tuple[int, str]]) -> int:
    return sum(1 for generation, thread in passes if generation == 2 and thread == "catapult-simulator")


def test_a_call_and_a_gather_of_the_simulator_earn_a_full_pass(
    tidiers, passes, no_young_passes_of_its_own, collector,
) -> None:
    with Simulator(speed=50) as sim:
        api = Api(sim)
        (tidier,) = tidiers
        # given a call (one made), its answer tidied while the simulator falls quiet: not enough yet
        call_id = api.answered_call(collector)
        wait_until(lambda: not tidier.looking)
        assert simulator_full_passes(passes) == 0
        # when it makes a gather (the second)
        assert api.gather(call_id, {"maxDigits": "1", "interDigitTimeout": "30"}).status_code == 201
        # then the next quiet moment gets the full pass, on the simulator's thread
        wait_until(lambda: simulator_full_passes(passes) == 1)
        api.http.close()


def test_the_collectors_own_full_pass_starts_the_simulators_count_again(
    tidiers, passes, no_young_passes_of_its_own, collector,
) -> None:
    with Simulator(speed=50) as sim:
        api = Api(sim)
        (tidier,) = tidiers
        call_id = api.answered_call(collector)
        wait_until(lambda: not tidier.looking)
        # given the collector's own full pass after the call
        gc.collect()
        # when the simulator makes a gather and falls quiet
        assert api.gather(call_id, {"maxDigits": "1", "interDigitTimeout": "30"}).status_code == 201
        assert tidier.looking
        wait_until(lambda: not tidier.looking)
        # then one thing made since that pass earns no full pass of its own
        assert simulator_full_passes(passes) == 0
        api.http.close()
