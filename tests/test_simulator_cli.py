"""``catapult-nb simulator`` as a real subprocess: the listening line, a request, and a clean exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from catapult_nb.cli import main
from catapult_nb.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]

LINE = re.compile(r"^Catapult simulator listening on http://127\.0\.0\.1:(\d+)$")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "catapult_nb", "simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_the_seed_request_and_exits_0_on_a_signal(signum):
    process = start("--speed", "20", "--api-secret", "s3cret-for-cli")
    try:
        line = process.stdout.readline().rstrip("\n")  # blocks until the server accepts connections
        match = LINE.match(line)
        assert match, line
        base = f"http://127.0.0.1:{match.group(1)}"
        health = requests.get(f"{base}/_sim/health", timeout=10).json()
        assert health == {"status": "ok", "speed": 20.0, "promptTiming": "audio"}

        http = requests.Session()
        http.auth = ("t-simulator", "s3cret-for-cli")
        incoming = http.post(
            f"{base}/_sim/incoming",
            json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": "http://127.0.0.1:9/cb"},
            timeout=10,
        )
        call_id = incoming.json()["callId"]
        root = f"{base}/v1/users/u-simulator/calls/{call_id}"
        assert http.post(root, json={"state": "active"}, timeout=10).status_code == 200
        seed = {
            "maxDigits": "5",
            "terminatingDigits": "*",
            "interDigitTimeout": "7",
            "prompt": {"sentence": "Please enter your 5 digit code"},
        }
        created = http.post(f"{root}/gather", json=seed, timeout=10)
        assert created.status_code == 201
        assert created.headers["Location"].startswith(f"{root}/gather/gtr-")
        http.close()
    finally:
        process.send_signal(signum)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out == ""  # exactly one line was printed
    assert "s3cret-for-cli" not in err


def test_cli_port_in_use_exits_1_with_a_hint(simulator):
    result = subprocess.run(
        [sys.executable, "-m", "catapult_nb", "simulator", "--port", str(simulator.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "--port" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["simulator", "--speed", "0"],
        ["simulator", "--speed", "1e15"],
        ["simulator", "--port", "70000"],
        ["simulator", "--account-id", "acct-1"],
        ["nope"],
        [],
    ],
)
def test_cli_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_cli_serves_v2_on_the_same_port_with_its_account_id():
    process = start("--account-id", "5551234")
    try:
        match = LINE.match(process.stdout.readline().rstrip("\n"))
        assert match
        calls = f"http://127.0.0.1:{match.group(1)}/api/v2/accounts/5551234/calls"
        body = {"to": "+15551239999", "from": "+15551230000", "applicationId": "a",
                "answerUrl": "http://127.0.0.1:9/answer"}
        created = requests.post(calls, json=body, auth=("t-simulator", "simulator-secret"), timeout=10)
        assert created.status_code == 201 and created.json()["accountId"] == "5551234"
        other = calls.replace("5551234", "9900000")
        refused = requests.get(other, auth=("t-simulator", "simulator-secret"), timeout=10)
        assert refused.status_code == 403 and "5551234" in refused.json()["description"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("speed", [1e15, 1e9, 10_001, 0.0009, float("inf")])
def test_a_speed_whose_clock_would_leave_what_times_can_hold_is_refused(speed):
    with pytest.raises(ValueError, match=r"speed must be a positive number from 0\.001 to 10,000 \(1 = real"):
        Simulator(speed=speed)
    assert Simulator(speed=10_000).speed == 10_000 and Simulator(speed=0.001).speed == 0.001


def test_cli_prompt_timing_estimate_is_reported_by_health():
    process = start("--prompt-timing", "estimate")
    try:
        match = LINE.match(process.stdout.readline().rstrip("\n"))
        assert match
        health = requests.get(f"http://127.0.0.1:{match.group(1)}/_sim/health", timeout=10).json()
        assert health["promptTiming"] == "estimate"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_demo_without_the_notebooks_extra_says_which_extra_to_install():
    # a plain install: nbformat cannot be imported (None in sys.modules makes its import fail)
    code = ("import sys; sys.modules['nbformat'] = None; from catapult_nb.cli import main; "
            "sys.exit(main(['demo']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    assert "catapult_nb[notebooks]" in proc.stderr and "nbformat is missing" in proc.stderr


def test_make_demo_says_it_is_installing_and_shows_pips_progress(tmp_path):
    plan = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"], capture_output=True, text=True,
                          check=True, cwd=ROOT).stdout
    lines = plan.splitlines()
    [install] = [n for n, line in enumerate(lines) if "pip install" in line and "[notebooks]" in line]
    assert "--quiet" not in lines[install]
    assert any("Installing catapult_nb" in line for line in lines[:install])
