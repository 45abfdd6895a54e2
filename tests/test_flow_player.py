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


def test_a_closed_sessions_player_says_so_in_one_line(tmp_path):
    # given a player whose session is closed (the last cell of a notebook, say)
    session = Session.simulated(speed=SPEED, store=tmp_path / "closed.sqlite3")
    player = FlowPlayer(session, account_code())
    run = player.place_call()
    run.wait_step("code")
    session.close()
    # then the player says so at once, and its call button is off
    assert "this session is closed" in player.status.value and player.call_button.disabled
    # and a click says the same, in one line, without the client's or the connection's error
    for click in (player.place_call, lambda: player.press("1")):
        player._clicked(click)
        assert "this session is closed" in player.status.value, player.status.value
        assert "CatapultClient" not in player.status.value and "urllib3" not in player.status.value
        assert "\n" not in player.status.value
    assert player.keypad is not None
    player.keypad._clicked("1")
    assert "this session is closed" in player.keypad.display.value
    assert "Connection" not in player.keypad.display.value


def test_a_player_on_a_fast_session_says_so_and_simulated_plays_at_a_persons_pace(session):
    # given the notebook's fast session: the player warns that a person cannot keep up
    fast = FlowPlayer(session, account_code())
    assert f"×{SPEED}" in fast.pace.value and "FlowPlayer.simulated(flow)" in fast.pace.value
    # when a player gets its own simulator
    player = FlowPlayer.simulated(account_code())
    try:
        # then it runs at speed 1, says nothing about pace, and is a session apart from the notebook's
        assert player.session.speed == 1 and player.pace.value == ""
        assert player.session is not session
    finally:
        player.close()
    # and closing the player closes the session it made, but never one it was given
    assert player.session.closed
    fast.close()
    assert not session.closed


def test_an_empty_transcript_puts_nothing_yet_on_a_line_of_its_own(session):
    player = FlowPlayer(session, account_code())
    # block elements: the page reads "Flow transcript", then "nothing yet" (never "transcriptnothing yet")
    assert "<div><b>Flow transcript</b></div><div><i>nothing yet</i></div>" in player.transcript.value
