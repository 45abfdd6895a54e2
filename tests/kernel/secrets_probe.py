"""An IPython startup file the tests put in a kernel's profile (``profile_default/startup/``).

After every cell it writes the secrets of each :class:`catapult_nb.Session` the kernel holds (the API
secret its client sends, and its receiver's ``/callbacks/<token>`` token) to the JSON file named by
``CNB_SECRETS_FILE``, so a test looks for the kernel's real values in what the kernel showed — not for a
value it guessed. Each run adds to the file; it never prints anything.
"""

import json
import os
import sys


def _cnb_held_session(value, session_type):
    """The session ``value`` is or holds (a widget's ``.session``), else None; None too when looking
    raises (Flask's ``request`` proxy outside a request raises RuntimeError on any attribute), so the probe
    never fails a user's cell."""
    try:
        for candidate in (value, getattr(value, "session", None)):
            if isinstance(candidate, session_type):
                return candidate
    except Exception:
        return None
    return None


def _cnb_sessions(namespace):
    session_type = getattr(sys.modules.get("catapult_nb.session.session"), "Session", None)
    if session_type is None:
        return []
    found = []
    for value in list(namespace.values()):
        session = _cnb_held_session(value, session_type)
        if session is not None and all(session is not s for s in found):
            found.append(session)
    return found


def _cnb_record_secrets(*_args):
    path = os.environ.get("CNB_SECRETS_FILE")
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as old:
            known = json.load(old)
    except (OSError, ValueError):
        known = {"api_secrets": [], "receiver_tokens": []}
    for session in _cnb_sessions(get_ipython().user_ns):  # noqa: F821 — IPython's startup namespace
        # a live session's secret too, which nothing public reveals (by design): read the client's auth
        secret = session.client._auth.revealed()[1]
        token = session.receiver.path.rsplit("/", 1)[1]
        for key, value in (("api_secrets", secret), ("receiver_tokens", token)):
            if value not in known[key]:
                known[key].append(value)
    with open(path, "w", encoding="utf-8") as new:
        json.dump(known, new)


get_ipython().events.register("post_run_cell", _cnb_record_secrets)  # noqa: F821
