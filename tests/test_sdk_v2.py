"""The official v2 SDK (``bandwidth-sdk`` 23.x) as the judge of the simulator's v2 dialect.

The v1 SDK (3.x) in the test environment has the same module name, ``bandwidth``, so the 23.x SDK lives
in a directory of its own, ``build/sdk-v2`` (``make test`` installs it there, keyed on pyproject.toml;
``CATAPULT_SDK_V2`` names another), and ``tests/sdk_v2/check_sdk_v2.py`` runs in a subprocess with that
directory first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = Path(os.environ.get("CATAPULT_SDK_V2") or ROOT / "build" / "sdk-v2")
CHECKS = ROOT / "tests" / "sdk_v2" / "check_sdk_v2.py"


def test_the_official_v2_sdk_works_unchanged_against_the_simulator():
    if not (SDK_DIR / "bandwidth" / "api" / "calls_api.py").is_file():
        pytest.fail(
            f"the v2 SDK is missing from {SDK_DIR}: run `make test` (it installs it), or "
            f"`pip install --target {SDK_DIR} 'bandwidth-sdk>=23,<24'`"
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SDK_DIR), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(CHECKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    passed = re.search(r"(\d+) passed", result.stdout)
    expected = len(re.findall(r"^def test_", CHECKS.read_text(), re.M))
    assert passed and int(passed.group(1)) == expected, report
