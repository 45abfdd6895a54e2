"""FlowPlayer: every button is one line of Python; the diagram follows the current step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catapult_nb import Session
from catapult_nb.flows.examples import account_code
from catapult_nb.widgets import FlowPlayer

SPEED = 10


@pytest.fixture(params=["v1", "v2"])
def session(tmp_path, request) -> Iterator[Session]:
    # the same player on both dialects: on v2 the flow's steps are BXML the receiver answers with
    with Session.simulated(speed=SPEED, store=tmp_path / "events.sqlite3", api=request.param) as s:
        yield s


def _diagram(player: FlowPlayer) -> str:
    [output] = player.diagram.outputs
    return output["data"]["text/vnd.mermaid"]


def test_the_player_runs_a_call_through_the_flow(session):
    # given a player: the diagram is drawn with no step lit
    player = FlowPlayer(session, account_code())
    assert _diagram(player).startswith("flowchart TD")
    assert not any(line.startswith("    class s_") for line in _diagram(player).splitlines())
    # when a call is placed and the code is typed
    run = player.place_call()
    run.wait_step("code")
    player.refresh()
    # then the diagram lights the code step and the status says where the call is
    assert "class s_code current" in _diagram(player)
    assert "at step <b>code</b>" in player.status.value
    player.press("12345")
    run.wait_step("confirm")
    player.refresh()
    assert "class s_confirm current" in _diagram(player)
    assert "1 2 3 4 5" in player.transcript.value
    player.press("1")
    run.wait()
    player.refresh()
    # then the run completed, and the player shows it
    assert run.outcome == "completed"
    assert "completed" in player.status.value and "■ completed" in player.transcript.value
    assert player.keypad is not None and player.keypad.pressed == "123451"


def test_hanging_up_from_the_player_ends_the_run(session):
    player = FlowPlayer(session, account_code())
    run = player.place_call()
    run.wait_step("code")
    player.hang_up()
    assert run.wait().outcome == "hung-up"


def test_a_failed_click_says_why_in_the_status(session):
    player = FlowPlayer(session, account_code())
    player._clicked(player.hang_up)
    assert "no call" in player.status.value
