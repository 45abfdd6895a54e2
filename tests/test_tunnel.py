"""The ngrok tunnel, driven through pyngrok against the fake agent in ``tests/fake_ngrok.py``.

Everything here runs offline on 127.0.0.1: the fake agent's "public URL" is a local forwarding server.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import fake_ngrok
import pytest
import requests
from pyngrok import conf, installer, ngrok
from pytest_httpserver import HTTPServer

from catapult_nb.tunnel import AUTHTOKEN_URL, LoopbackTunnel, TunnelError, kill_agents, open_tunnel

TOKEN = "2abcDEFtoken_0123456789abcdefghijklmnop"
SECRET_PATH = "/callbacks/s3cr3t-receiver-token"




@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(tmp_path / "ngrok.yml")


@pytest.fixture(scope="module")
def local_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def upstream(local_server: HTTPServer) -> Iterator[HTTPServer]:
    """A real HTTP server on 127.0.0.1 standing in for the receiver, with a fresh log for each test."""
    local_server.clear()
    yield local_server
    local_server.clear()


def agent_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- traffic through the tunnel ---------------------------------------------------------------------------

def test_callback_url_reaches_the_local_server_with_path_query_and_body(agent, config, upstream):
    # given a local server where the receiver would be
    upstream.expect_request(SECRET_PATH, method="POST", query_string="attempt=1").respond_with_json({"ok": 1})

    # when a callback is posted to the tunnel's callback URL
    with open_tunnel(upstream.port, auth_token=TOKEN, path=SECRET_PATH, ngrok_path=str(agent),
                     config_path=config) as tunnel:
        answer = requests.post(tunnel.callback_url + "?attempt=1", headers={"X-Probe": "yes"},
                               json={"eventType": "gather", "digits": "007"}, timeout=5)

    # then it arrived at the local server unchanged, and the answer came back
    assert answer.status_code == 200 and answer.json() == {"ok": 1}
    assert tunnel.callback_url == tunnel.public_url + SECRET_PATH
    ((request, _response),) = upstream.log
    assert request.path == SECRET_PATH
    assert json.loads(request.get_data()) == {"eventType": "gather", "digits": "007"}
    assert request.headers["X-Probe"] == "yes"
    assert request.headers["X-Forwarded-For"] == "127.0.0.1"


def test_basic_auth_is_enforced_by_the_tunnel(agent, config, upstream):
    upstream.expect_request(SECRET_PATH, method="POST").respond_with_data("stored")

    with open_tunnel(upstream.port, auth_token=TOKEN, basic_auth=("catapult", "correct horse"),
                     path=SECRET_PATH, ngrok_path=str(agent), config_path=config) as tunnel:
        anonymous = requests.post(tunnel.callback_url, json={}, timeout=5)
        wrong = requests.post(tunnel.callback_url, json={}, auth=("catapult", "wrong password"), timeout=5)
        right = requests.post(tunnel.callback_url, json={}, auth=("catapult", "correct horse"), timeout=5)
        # the form Catapult v1 uses: credentials inside the callback URL
        in_url = requests.post(tunnel.callback_url_with_credentials(), json={}, timeout=5)
        # and the object keeps its password and path wrapped: vars() shows neither
        kept = repr(vars(tunnel))
        assert "correct horse" not in kept and SECRET_PATH not in kept

    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200 and right.text == "stored"
    assert in_url.status_code == 200
    assert len(upstream.log) == 2  # the refused requests never reached the receiver


def test_unknown_options_pass_through_to_the_agent(agent, config, upstream):
    with open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config,
                     metadata="catapult-nb test") as tunnel:
        endpoints = ngrok.get_tunnels(conf.PyngrokConfig(ngrok_path=str(agent), config_path=config))

    (endpoint,) = endpoints
    assert endpoint.public_url == tunnel.public_url
    assert endpoint.data["metadata"] == "catapult-nb test"
    assert endpoint.upstream["url"] == f"http://127.0.0.1:{upstream.port}"


def test_domain_becomes_the_public_url(agent, config, upstream):
    with open_tunnel(upstream.port, auth_token=TOKEN, domain="cb-demo.ngrok.app", path=SECRET_PATH,
                     ngrok_path=str(agent), config_path=config) as tunnel:
        assert tunnel.public_url == "https://cb-demo.ngrok.app"
        assert tunnel.callback_url == "https://cb-demo.ngrok.app" + SECRET_PATH


def test_authtoken_from_the_environment(agent, config, upstream, monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    with open_tunnel(upstream.port, ngrok_path=str(agent), config_path=config) as tunnel:
        assert tunnel.agent_pid is not None


# --- lifecycle ---------------------------------------------------------------------------------------------

def test_close_stops_the_agent_and_is_idempotent(agent, config, upstream):
    tunnel = open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
    pid = tunnel.agent_pid
    public_url = tunnel.public_url
    assert pid is not None and not agent_is_gone(pid)

    tunnel.close()
    tunnel.close()

    # pyngrok waits for the process, so it is gone (reaped) by the time close() returns
    assert agent_is_gone(pid)
    assert tunnel.closed and tunnel.agent_pid is None
    with pytest.raises(requests.ConnectionError):
        requests.get(public_url, timeout=5)


def test_the_agent_stays_while_another_tunnel_uses_it(agent, config, upstream):
    upstream.expect_request("/b").respond_with_data("b")
    first = open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
    second = open_tunnel(upstream.port, auth_token=TOKEN, path="/b", ngrok_path=str(agent),
                         config_path=config)
    pid = first.agent_pid
    assert second.agent_pid == pid and first.public_url != second.public_url

    first.close()
    assert not agent_is_gone(pid)
    assert requests.get(second.callback_url, timeout=5).text == "b"

    second.close()
    assert agent_is_gone(pid)


def test_kill_agents_closes_this_interpreters_tunnels(agent, config, upstream):
    tunnel = open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
    pid = tunnel.agent_pid

    assert kill_agents(str(agent)) == 1

    assert agent_is_gone(pid) and tunnel.closed
    tunnel.close()  # still fine


# --- the known failures -----------------------------------------------------------------------------------

def test_missing_authtoken_says_where_to_get_one(agent, config):
    with pytest.raises(TunnelError) as caught:
        open_tunnel(8765, ngrok_path=str(agent), config_path=config)

    error = caught.value
    assert error.code == "ERR_NGROK_4018"
    assert "NGROK_AUTHTOKEN" in str(error) and AUTHTOKEN_URL in str(error)
    assert any("ERR_NGROK_4018" in line for line in error.ngrok_logs)


def test_fake_agent_failure_chosen_by_environment(agent, config, monkeypatch):
    monkeypatch.setenv("FAKE_NGROK_FAIL", "authtoken")
    with pytest.raises(TunnelError) as caught:
        open_tunnel(8765, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
    assert caught.value.code == "ERR_NGROK_4018"


def test_rejected_authtoken_never_shows_in_errors_or_logs(agent, config, caplog):
    secret = "invalid_2xYZsecretTokenValue987"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TunnelError) as caught:
        open_tunnel(8765, auth_token=secret, ngrok_path=str(agent), config_path=config)

    error = caught.value
    assert error.code == "ERR_NGROK_107"
    assert "NGROK_AUTHTOKEN" in str(error)
    # the agent repeats the token it rejected ("Your authtoken: …"); we keep the line, masked
    assert any("Your authtoken: ***" in line for line in error.ngrok_logs)
    texts = [str(error), repr(error), *error.ngrok_logs, *(r.getMessage() for r in caplog.records)]
    assert caplog.records and not [text for text in texts if secret in text]
    assert error.__cause__ is None and error.__suppress_context__


def test_leftover_agent_from_an_earlier_kernel(agent, config, upstream):
    # given an agent an earlier kernel left running, holding the account's only session
    earlier = subprocess.Popen([str(agent), "start", "--none", "--log", "stdout", "--authtoken", TOKEN],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in earlier.stdout], daemon=True).start()
        while "tunnel session started" not in lines.get(timeout=15):
            pass

        # when a new kernel opens a tunnel, it is told how to get out of it
        with pytest.raises(TunnelError) as caught:
            open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
        assert caught.value.code == "ERR_NGROK_108"
        assert "earlier kernel" in str(caught.value) and "kill_agents()" in str(caught.value)

        # and following the advice works
        assert kill_agents(str(agent)) == 1
        assert earlier.wait(timeout=10) is not None
        with open_tunnel(upstream.port, auth_token=TOKEN, ngrok_path=str(agent),
                         config_path=config) as tunnel:
            assert tunnel.agent_pid != earlier.pid
    finally:
        if earlier.poll() is None:
            earlier.kill()
        earlier.wait(timeout=10)
        earlier.stdout.close()


def test_session_limit_chosen_by_environment(agent, config, monkeypatch):
    monkeypatch.setenv("FAKE_NGROK_FAIL", "session-limit")
    with pytest.raises(TunnelError, match=r"pkill ngrok") as caught:
        open_tunnel(8765, auth_token=TOKEN, ngrok_path=str(agent), config_path=config)
    assert caught.value.code == "ERR_NGROK_108"


def test_agent_that_cannot_be_downloaded(tmp_path, config, monkeypatch):
    # given no agent at ngrok_path, and a download URL on a closed loopback port (what offline looks like)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = f"http://127.0.0.1:{closed_port}/ngrok-v3-stable-linux-amd64.tgz"
    monkeypatch.setattr(installer, "PLATFORMS", {key: unreachable for key in installer.PLATFORMS})
    missing = tmp_path / "bin" / "ngrok"

    with pytest.raises(TunnelError) as caught:
        open_tunnel(8765, auth_token=TOKEN, ngrok_path=str(missing), config_path=config)

    message = str(caught.value)
    assert "could not be downloaded" in message and "ngrok_path=" in message
    assert "simulated backend" in message and TOKEN not in message
    assert not missing.exists()


def test_an_agent_path_that_is_not_executable(tmp_path, config):
    not_executable = tmp_path / "ngrok"
    not_executable.write_text("not a program")
    with pytest.raises(TunnelError, match="ngrok_path"):
        open_tunnel(8765, auth_token=TOKEN, ngrok_path=str(not_executable), config_path=config)


# --- secrets in what people see ---------------------------------------------------------------------------

def test_repr_masks_the_secret_path_token_and_password(agent, config, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    password = "hunter2-but-longer"
    with open_tunnel(upstream.port, auth_token=TOKEN, basic_auth=("catapult", password), path=SECRET_PATH,
                     ngrok_path=str(agent), config_path=config) as tunnel:
        shown = [repr(tunnel), tunnel._repr_html_(), *tunnel.ngrok_logs()]
    shown += [r.getMessage() for r in caplog.records]

    assert "/callbacks/***" in repr(tunnel) and tunnel.public_url in repr(tunnel)
    assert "catapult" in repr(tunnel)  # the user name is no secret
    secrets = (TOKEN, password, "s3cr3t-receiver-token")
    leaks = [text for text in shown for secret in secrets if secret in text]
    assert not leaks


# --- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"port": 0}, "port must be"),
    ({"port": "8765"}, "port must be"),
    ({"port": 8765, "basic_auth": ("user", "short")}, "8 to 128 characters"),
    ({"port": 8765, "basic_auth": ("us:er", "long enough")}, "no ':'"),
    ({"port": 8765, "basic_auth": "user:password"}, "pair of strings"),
    ({"port": 8765, "path": "callbacks/x"}, "must start with '/'"),
    ({"port": 8765, "domain": "https://x.ngrok.app/path"}, "host name"),
])
def test_bad_arguments_fail_before_any_agent_starts(tmp_path, kwargs, message):
    never_run = tmp_path / "ngrok"  # does not exist: reaching pyngrok would mean a download attempt
    with pytest.raises(ValueError, match=message):
        open_tunnel(auth_token=TOKEN, ngrok_path=str(never_run), **kwargs)
    assert not never_run.exists()


def test_path_may_be_the_receivers_whole_local_url(agent, config, upstream):
    with open_tunnel(upstream.port, auth_token=TOKEN, path=f"http://127.0.0.1:{upstream.port}{SECRET_PATH}",
                     ngrok_path=str(agent), config_path=config) as tunnel:
        assert tunnel.callback_url == tunnel.public_url + SECRET_PATH


# --- the loopback tunnel ----------------------------------------------------------------------------------

def test_loopback_tunnel_hands_back_the_local_url(upstream):
    upstream.expect_request(SECRET_PATH, method="POST").respond_with_data("stored")
    local_url = upstream.url_for(SECRET_PATH)

    with LoopbackTunnel(local_url) as tunnel:
        assert tunnel.callback_url == local_url
        assert tunnel.local_port == upstream.port and tunnel.agent_pid is None
        assert requests.post(tunnel.callback_url, json={}, timeout=5).text == "stored"
        assert "s3cr3t" not in repr(tunnel) and "s3cr3t" not in tunnel._repr_html_()
        assert "/callbacks/***" in repr(tunnel)
    assert tunnel.closed
    tunnel.close()


def test_loopback_tunnel_rejects_what_is_not_a_url():
    with pytest.raises(ValueError, match="receiver's URL"):
        LoopbackTunnel("/callbacks/abc")


# --- the fake agent itself, as pyngrok sees it ------------------------------------------------------------

def test_pyngrok_reads_the_fake_agents_version(agent, config):
    assert ngrok.get_version(conf.PyngrokConfig(ngrok_path=str(agent), config_path=config))[0] == \
        fake_ngrok.VERSION


def test_a_receiver_that_is_down_gives_ngroks_502(agent, config):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with open_tunnel(closed_port, auth_token=TOKEN, ngrok_path=str(agent), config_path=config) as tunnel:
        answer = requests.post(tunnel.callback_url, json={}, timeout=5)
    assert answer.status_code == 502 and "ERR_NGROK_8012" in answer.text


def test_a_broken_config_file_is_named(agent, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("agent: [unclosed\n")
    with pytest.raises(TunnelError, match="not valid YAML") as caught:
        open_tunnel(8765, auth_token=TOKEN, ngrok_path=str(agent), config_path=str(broken))
    assert str(broken) in str(caught.value)


def test_the_agent_goes_away_when_the_interpreter_exits(agent, config, upstream):
    # given a "kernel" that opens a tunnel and exits without closing it
    script = (
        "from catapult_nb.tunnel import open_tunnel\n"
        f"t = open_tunnel({upstream.port}, auth_token={TOKEN!r}, ngrok_path={str(agent)!r}, "
        f"config_path={config!r})\n"
        "print(t.agent_pid, flush=True)\n"
    )
    kernel = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert kernel.returncode == 0, kernel.stderr
    pid = int(kernel.stdout.split()[-1])

    # then its agent ends too (it is not our child: wait for its exit on a pidfd)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(10_000), f"ngrok agent {pid} outlived its interpreter"
    finally:
        os.close(pidfd)
