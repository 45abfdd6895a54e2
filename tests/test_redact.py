"""The one redaction helper: what it masks, and that objects keep their secrets wrapped."""

from __future__ import annotations

import pickle

import pytest

from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.redact import MASK, Secret, mask, redact, redact_path, redact_url, scrub, url_password
from catapult_nb.simulator import Simulator
from catapult_nb.store.store import EventStore
from catapult_nb.tunnel import LoopbackTunnel

TOKEN = "Tok3n-abcdefghijklmnopqrst"


def test_redact_hides_url_passwords_callback_tokens_and_given_secrets():
    text = f"refused https://user:pa55@host.example/callbacks/{TOKEN}?x=1 with key k3y and https://t0k@h.example/"
    shown = redact(text, ["k3y"])
    assert "pa55" not in shown and TOKEN not in shown and "k3y" not in shown and "t0k@" not in shown
    assert f"https://user:{MASK}@host.example/callbacks/{MASK}?x=1" in shown


def test_scrub_also_hides_a_basic_auth_pair_in_base64():
    # "tok:sec" in base64 is dG9rOnNlYw==
    assert scrub("Authorization: Basic dG9rOnNlYw==", ["tok", "sec"]) == f"Authorization: Basic {MASK}"


def test_url_and_path_helpers():
    assert redact_url("http://a:b@h:1/p?q") == f"http://a:{MASK}@h:1/p?q"
    assert redact_url("http://h/p") == "http://h/p" and redact_url(None) is None
    assert redact_path("/callbacks/x/y") == f"/callbacks/{MASK}/{MASK}" and redact_path("/x") == f"/{MASK}"


def test_a_url_password_is_hidden_wherever_a_message_repeats_it():
    url = "http://app:s3cret@127.0.0.1:9/hook"
    assert url_password(url) == "s3cret"
    assert url_password("http://127.0.0.1:9/hook") is None and url_password(None) is None
    assert url_password("http://[::1/") is None  # not a URL urllib reads: nothing to hide, no crash
    shown = redact("could not log in as app with s3cret", [url_password(url)])
    assert shown == f"could not log in as app with {MASK}"


def test_a_secret_never_shows_and_is_never_pickled():
    secret = Secret("s3cret")
    assert "s3cret" not in repr(secret) + str(secret) and secret.reveal() == "s3cret"
    assert mask(secret) == MASK and mask("") == "(not set)"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)


def test_objects_keep_their_secrets_wrapped(tmp_path):
    with EventStore(tmp_path / "events.sqlite3") as store:
        receiver = CallbackReceiver(store, token=TOKEN, basic_auth=("catapult", "correct horse"))
        tunnel = LoopbackTunnel(f"http://127.0.0.1:8765/callbacks/{TOKEN}")
        simulator = Simulator(api_secret="very-secret-value")
        for thing in (receiver, tunnel, simulator, vars(simulator)["_config"]):
            kept = repr(vars(thing)) if hasattr(thing, "__dict__") else repr(thing)
            assert TOKEN not in kept and "correct horse" not in kept and "very-secret-value" not in kept
        # while the values are there for the one place that sends them
        assert receiver.url.endswith(TOKEN) and tunnel.callback_url.endswith(TOKEN)
        assert simulator.api_secret == "very-secret-value"
