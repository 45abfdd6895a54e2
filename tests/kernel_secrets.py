"""The real secrets of the sessions a notebook's kernel opened, for the "no secret shown" checks.

``Session.simulated()`` makes its own random API secret and receiver token, so a check for a value the
test put in the environment can never fail. Instead, :func:`install` puts ``kernel/secrets_probe.py`` in
the kernel's IPython profile; after every cell it writes the secrets of each Session the kernel holds to a
file, and :func:`read` returns them. :func:`assert_hidden` then looks for each one in what was shown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

PROBE = Path(__file__).resolve().parent / "kernel" / "secrets_probe.py"


def install(ipython_dir: Path, secrets_file: Path) -> dict[str, str]:
    """Put the probe in ``ipython_dir``'s default profile; return the environment a kernel needs for it."""
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROBE, startup / "00-cnb-secrets.py")
    return {"IPYTHONDIR": str(ipython_dir), "CNB_SECRETS_FILE": str(secrets_file)}


def read(secrets_file: Path) -> dict[str, list[str]]:
    """The API secrets and receiver tokens the kernel held; fails if it held none (nothing to check)."""
    assert secrets_file.exists(), "the kernel recorded no Session: the secret checks would check nothing"
    found = json.loads(secrets_file.read_text(encoding="utf-8"))
    assert found["api_secrets"] and found["receiver_tokens"], found.keys()
    return found


def assert_hidden(found: dict[str, list[str]], **shown: str) -> None:
    """No API secret or receiver token of ``found`` appears in any of ``shown`` (name → text)."""
    for where, text in shown.items():
        for kind, values in found.items():
            for value in values:
                assert value not in text, f"a real {kind[:-1]} ({value[:3]}…) is in the {where}"
