"""The whole live-backend route, offline: simulator → (fake) ngrok tunnel → receiver → store → DataFrame.

The simulator plays the Catapult API and sends its callbacks to ``tunnel.callback_url``, which is the
fake agent's forwarding server on 127.0.0.1; the fake forwards them to the receiver in this process.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator
from catapult_nb.store.store import EventStore
from catapult_nb.tunnel import open_tunnel

TOKEN = "2abcDEFtoken_route_0123456789abcdef"




@pytest.mark.parametrize("basic_auth", [None, ("catapult", "tunnel-password")], ids=["open", "basic-auth"])
def test_gather_event_travels_through_the_tunnel_into_the_dataframe(agent, tmp_path, basic_auth):
    with (
        EventStore(tmp_path / "events.db") as store,
        Simulator(speed=50) as sim,
        CallbackReceiver(store, session="route", basic_auth=basic_auth) as receiver,
        open_tunnel(receiver.port, auth_token=TOKEN, basic_auth=basic_auth, path=receiver.path,
                     ngrok_path=str(agent), config_path=str(tmp_path / "ngrok.yml")) as tunnel,
    ):
        # given a call whose callbacks go through the tunnel (with credentials in the URL, as v1 sends them)
        callback_url = tunnel.callback_url_with_credentials() if basic_auth else tunnel.callback_url
        api = requests.Session()
        api.auth = (sim.api_token, sim.api_secret)
        calls = f"{sim.api_url}/users/{sim.user_id}/calls"
        created = api.post(calls, json={"from": "+15550001111", "to": "+15550002222",
                                        "callbackUrl": callback_url}, timeout=5)
        assert created.status_code == 201, created.text
        call_id = created.headers["Location"].rsplit("/", 1)[1]
        receiver.wait_for(event_type="answer", predicate=lambda e: e.get("callId") == call_id, timeout=10)

        # when a gather runs and the far end presses 0 0 7 #
        gather = api.post(f"{calls}/{call_id}/gather", json={"maxDigits": 5, "terminatingDigits": "#"},
                          timeout=5)
        assert gather.status_code == 201, gather.text
        gather_id = gather.headers["Location"].rsplit("/", 1)[1]
        pressed = requests.post(f"{sim.base_url}/_sim/calls/{call_id}/press",
                                json={"digits": "007#", "gap": 0.1}, timeout=5)
        assert pressed.status_code == 202, pressed.text
        event = receiver.wait_for(gather_id=gather_id, timeout=10)

        # then the gather event arrived through the tunnel and is a row of the DataFrame
        assert event["digits"] == "007" and event["reason"] == "terminating-digit"
        frame = receiver.store.to_dataframe()
        row = frame[(frame["eventType"] == "gather") & (frame["gatherId"] == gather_id)]
        assert len(row) == 1
        assert row.iloc[0]["digits"] == "007" and row.iloc[0]["callId"] == call_id
        assert len(receiver.rejected()) == 0  # nothing was refused on the way (basic auth included)
        # and every callback went to the tunnel's port, not straight to the receiver
        deliveries = requests.get(f"{sim.base_url}/_sim/deliveries", params={"callId": call_id},
                                  timeout=5).json()
        tunnel_port = urlsplit(tunnel.public_url).port
        assert deliveries and {urlsplit(d["url"]).port for d in deliveries} == {tunnel_port}
        assert {d["status"] for d in deliveries} == {200} and tunnel.local_port == receiver.port
