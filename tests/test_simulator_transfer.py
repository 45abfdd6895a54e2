"""Transfer on the simulator, over real sockets: the new leg rings, answers, is bridged, and a hang-up
on either side ends both."""

from __future__ import annotations

import pytest

from catapult_nb.simulator.phone import VirtualPhone

OPERATOR = "+15550100999"


def _transfer(api, call_id: str, **fields):
    return api.post(f"/calls/{call_id}", {"state": "transferring", "transferTo": OPERATOR, **fields})


def test_a_transfer_rings_the_new_leg_and_bridges_it_once_answered(api, collector, simulator):
    # given an answered call
    call_id = api.answered_call(collector)
    # when it is transferred
    response = _transfer(api, call_id)
    # then the answer is 201 with the new leg's Location, and the call is transferring until it answers
    assert response.status_code == 201 and response.content == b""
    location = response.headers["Location"]
    leg_id = location.rsplit("/", 1)[1]
    assert location == f"{simulator.api_url}/users/{simulator.user_id}/calls/{leg_id}"
    assert leg_id != call_id and api.CALL_ID.match(leg_id)
    leg = api.get(f"/calls/{leg_id}").json()
    assert (leg["state"], leg["direction"], leg["from"], leg["to"]) == ("started", "out", api.TO, OPERATOR)
    assert api.get(f"/calls/{call_id}").json()["state"] == "transferring"
    # the leg's events go to the original call's callback URL; once it answers both are active, bridged
    answer = collector.wait_for_event("answer", leg_id)
    assert (answer["from"], answer["to"]) == (api.TO, OPERATOR)
    original, leg = api.get(f"/calls/{call_id}").json(), api.get(f"/calls/{leg_id}").json()
    assert (original["state"], leg["state"]) == ("active", "active")
    assert original["bridgeId"] == leg["bridgeId"] and original["bridgeId"].startswith("brg-")
    assert [c["id"] for c in api.get("/calls", params={"bridgeId": leg["bridgeId"]}).json()] == [
        leg_id, call_id,
    ]


@pytest.mark.parametrize("who", ["caller", "new leg"])
def test_a_hang_up_on_either_side_ends_both(api, collector, simulator, who):
    call_id = api.answered_call(collector)
    leg_id = _transfer(api, call_id).headers["Location"].rsplit("/", 1)[1]
    collector.wait_for_event("answer", leg_id)
    # when one side hangs up on the virtual phone
    VirtualPhone(simulator.base_url).hang_up(call_id if who == "caller" else leg_id)
    # then each call gets its hangup event and both are completed
    for cid in (call_id, leg_id):
        hangup = collector.wait_for_event("hangup", cid)
        assert hangup["cause"] == "NORMAL_CLEARING"
        assert api.get(f"/calls/{cid}").json()["state"] == "completed"


def test_the_leg_goes_to_the_transfer_callback_url_when_given(api, collector):
    call_id = api.answered_call(collector)
    leg_id = _transfer(api, call_id, callbackUrl=collector.url("/leg")).headers["Location"].rsplit("/", 1)[1]
    collector.wait_for_event("answer", leg_id)
    assert [e["eventType"] for e in collector.events(leg_id, path="/leg")] == ["answer"]
    assert collector.events(leg_id, path="/cb") == []


def test_a_busy_transfer_target_gives_the_caller_back(api, collector):
    # given a call transferred to a number that is busy
    call_id = api.answered_call(collector)
    leg_id = _transfer(api, call_id, transferTo="+15550100002").headers["Location"].rsplit("/", 1)[1]
    # then the leg ends busy, and the caller's call is active again, not bridged
    assert collector.wait_for_event("hangup", leg_id)["cause"] == "USER_BUSY"
    original = api.get(f"/calls/{call_id}").json()
    assert original["state"] == "active" and "bridgeId" not in original
    assert api.gather(call_id, {"maxDigits": "1"}).status_code == 201


def test_the_caller_hanging_up_while_the_leg_rings_cancels_it(api, collector, simulator):
    call_id = api.answered_call(collector)
    leg_id = _transfer(api, call_id, transferTo="+15550100001").headers["Location"].rsplit("/", 1)[1]
    VirtualPhone(simulator.base_url).hang_up(call_id)
    assert collector.wait_for_event("hangup", leg_id)["cause"] == "ORIGINATOR_CANCEL"
    assert api.get(f"/calls/{leg_id}").json()["state"] == "completed"


def test_a_transfer_stops_a_running_gather_without_a_gather_event(api, collector):
    call_id = api.answered_call(collector)
    gather_id = api.gather(call_id, {"maxDigits": "5"}).headers["Location"].rsplit("/", 1)[1]
    leg_id = _transfer(api, call_id).headers["Location"].rsplit("/", 1)[1]
    collector.wait_for_event("answer", leg_id)
    assert api.get(f"/calls/{call_id}/gather/{gather_id}").json()["state"] == "completed"
    assert [e for e in collector.events(call_id) if e["eventType"] == "gather"] == []


def test_transfer_mistakes_are_clear_errors(api, collector):
    call_id = api.answered_call(collector)
    missing = api.post(f"/calls/{call_id}", {"state": "transferring"})
    body = api.assert_error(missing, 400, "bad-request", "missing-property")
    assert "transferTo" in body["message"]
    bad = api.post(f"/calls/{call_id}", {"state": "transferring", "transferTo": "5550100"})
    assert "transferTo" in api.assert_error(bad, 400, "bad-request", "validation-error")["message"]
    # a call that is transferring (or not active) cannot be transferred again, nor gather
    assert _transfer(api, call_id).status_code == 201
    api.assert_error(_transfer(api, call_id), 403, "authorization", "call-invalid-state")
    api.assert_error(api.gather(call_id, {"maxDigits": "1"}), 403, "authorization", "call-invalid-state")
    ringing = api.create_call(collector.url(), to="+15550100001")
    api.assert_error(_transfer(api, ringing), 403, "authorization", "call-invalid-state")


def test_the_client_transfers_and_returns_the_new_leg(api, collector, simulator):
    from catapult_nb.client import CatapultClient

    call_id = api.answered_call(collector)
    with CatapultClient(simulator.user_id, simulator.api_token, simulator.api_secret,
                        base_url=simulator.base_url) as client:
        leg_id = client.transfer_call(call_id, OPERATOR, transfer_caller_id="+15557654321")
    assert collector.wait_for_event("answer", leg_id)["from"] == "+15557654321"
