"""Make the kernel's callback receiver reachable from the internet, through an ngrok tunnel (pyngrok).

The live Catapult API can only POST callbacks to a public URL. :func:`open_tunnel` starts the ngrok agent
(downloading it first if pyngrok has not yet), opens an HTTP endpoint to the receiver's local port and
returns a :class:`Tunnel` whose ``callback_url`` is the public URL plus the receiver's secret
path. On the simulated backend nothing needs to cross the internet: :class:`LoopbackTunnel` has the same
surface and hands back the receiver's local URL.

How options reach ngrok (pyngrok 9.1 speaks to the agent's ``/api/endpoints`` API, config version 3):

- ``basic_auth=(user, password)`` becomes a ``basic-auth`` action in the endpoint's ``traffic_policy``
  (ngrok's v3 way; the v2 ``basic_auth`` tunnel option is gone from endpoints). ngrok wants the password
  to be 8 to 128 characters, so that is checked here, before any process starts.
- ``domain="you.ngrok.app"`` becomes the endpoint's ``url`` (``https://you.ngrok.app``).
- Any other keyword passes through to :func:`pyngrok.ngrok.connect` unchanged.

Failures the agent reports are turned into :class:`TunnelError` with a message that says what to do: a
missing or rejected authtoken (``ERR_NGROK_4018``, ``105``, ``107``), an agent that cannot be downloaded
(offline), an agent left over from an earlier kernel holding the account's only session
(``ERR_NGROK_108``). The error keeps the agent's recent log lines, with the authtoken scrubbed out.

Secrets (the authtoken, the basic-auth password, the receiver's secret path) never appear in a repr, an
error or a log record: pyngrok's own loggers get a filter that masks them.
"""

from __future__ import annotations

import atexit
import html
import logging
import os
import re
import select
import signal
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml  # pyngrok's own dependency: it reads the agent's config file with it
from pyngrok import conf, ngrok, process
from pyngrok.exception import (
    PyngrokError,
    PyngrokNgrokError,
    PyngrokNgrokHTTPError,
    PyngrokNgrokInstallError,
)

from catapult_nb.errors import Error
from catapult_nb.redact import MASK, Secret, redact_path, scrub

__all__ = ["AUTHTOKEN_URL", "LoopbackTunnel", "Tunnel", "TunnelError", "kill_agents", "open_tunnel"]

logger = logging.getLogger(__name__)

#: Where a user finds their ngrok authtoken.
AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"

#: Agent error codes that mean "no usable authtoken": missing (4018), malformed (105), unknown (107).
_AUTHTOKEN_CODES = {"ERR_NGROK_4018", "ERR_NGROK_105", "ERR_NGROK_107"}
#: The account's simultaneous-session limit is reached, usually by an agent an earlier kernel left running.
_SESSION_LIMIT_CODE = "ERR_NGROK_108"


class TunnelError(Error, RuntimeError):
    """The tunnel could not be opened or closed; the message says what to do.

    :ivar code: the agent's error code (``"ERR_NGROK_4018"`` …) when it gave one, else ``None``.
    :ivar ngrok_logs: the agent's recent log lines, secrets masked, oldest first.
    """

    def __init__(self, message: str, *, code: str | None = None, ngrok_logs: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ngrok_logs: list[str] = list(ngrok_logs or [])


# --- keeping secrets out of text -------------------------------------------------------------------------

class _Redactor(logging.Filter):
    """Masks known secrets in log records of pyngrok's loggers (agent log lines, request payloads)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        text = scrub(text, secrets)
        # The agent repeats a rejected authtoken ("Your authtoken: …"); mask it even if we never knew it.
        # (A logfmt line writes newlines as a literal backslash-n, hence the backslash in the stop set.)
        text = re.sub(r"(Your authtoken:\s*)[^\s\\\"]+", r"\1" + MASK, text)
        return re.sub(r"(--authtoken[ =])[^\s\\\"]+", r"\1" + MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_redactor = _Redactor()
# A logger's filters only see records logged on that very logger, so each pyngrok logger gets one.
for _name in ("pyngrok", "pyngrok.ngrok", "pyngrok.process", "pyngrok.process.ngrok", "pyngrok.installer"):
    logging.getLogger(_name).addFilter(_redactor)


# --- the tunnels ------------------------------------------------------------------------------------------

@dataclass
class _AgentUse:
    """Which of our tunnels use the agent at one ngrok_path, and whether we started that agent."""

    config: conf.PyngrokConfig
    started_here: bool
    tunnels: set[int] = field(default_factory=set)


_lock = threading.RLock()
_agents: dict[str, _AgentUse] = {}
_open_tunnels: dict[int, Tunnel] = {}


_T = TypeVar("_T", bound="_Endpoint")


class _Endpoint:
    """What both tunnels share: a public base URL, the receiver's path on it, open or closed."""

    public_url: str
    _path: Secret  # the receiver's path on the public URL: it carries the receiver's token
    _closed: bool

    @property
    def callback_url(self) -> str:
        """The URL to give the API as ``callbackUrl``: the public URL plus the receiver's secret path."""
        return self.public_url + self._path.reveal()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Tunnel(_Endpoint):
    """An open ngrok endpoint forwarding to a local port. Made by :func:`open_tunnel`.

    Use it as a context manager, or call :meth:`close`; whatever is still open closes at interpreter exit.
    """

    def __init__(self, public_url: str, local_port: int, path: str, *, name: str | None,
                 config: conf.PyngrokConfig, basic_auth_user: str | None = None,
                 _credentials: tuple[str, str] | None = None) -> None:
        #: The endpoint's public base URL (``https://….ngrok-free.app``).
        self.public_url = public_url.rstrip("/")
        #: The local port the tunnel forwards to.
        self.local_port = local_port
        #: The endpoint's name in the agent.
        self.name = name
        #: The user name ngrok's basic auth asks for, or ``None`` when the tunnel is open to anyone.
        self.basic_auth_user = basic_auth_user
        self._path = Secret(path)
        self._config = config
        # (user, password), the password kept wrapped
        self._credentials = (_credentials[0], Secret(_credentials[1])) if _credentials else None
        self._closed = False  # also set when kill_agents() stops the agent

    @property
    def agent_pid(self) -> int | None:
        """The process id of the ngrok agent serving this tunnel, while it runs."""
        if self._closed or not process.is_process_running(self._config.ngrok_path):
            return None
        return ngrok.get_ngrok_process(self._config).proc.pid

    def callback_url_with_credentials(self) -> str:
        """The callback URL with the basic-auth user and password in it (``https://user:pass@…``).

        Catapult v1 sends the credentials found in a callback URL, which is how callbacks get through
        the tunnel's basic auth. The result holds the password: do not print it.

        :raises TunnelError: when the tunnel has no basic auth.
        """
        if self._credentials is None:
            raise TunnelError("this tunnel has no basic auth; use tunnel.callback_url")
        user, password = self._credentials
        scheme, rest = self.callback_url.split("://", 1)
        return f"{scheme}://{user}:{password.reveal()}@{rest}"

    def ngrok_logs(self) -> list[str]:
        """The agent's recent log lines (secrets masked), to see what it did with the tunnel."""
        if not process.is_process_running(self._config.ngrok_path):
            return []
        return [_redactor.scrub(log.line) for log in ngrok.get_ngrok_process(self._config).logs]

    def close(self) -> None:
        """Stop the endpoint, and the agent too when this module started it and no other tunnel uses it.

        Safe to call more than once.

        :raises TunnelError: when the agent is running but would not stop the endpoint.
        """
        with _lock:
            if self._closed:
                return
            self._closed = True
            _open_tunnels.pop(id(self), None)
            use = _agents.get(self._config.ngrok_path)
            if use is not None:
                use.tunnels.discard(id(self))
            stop_agent = use is not None and use.started_here and not use.tunnels
            if stop_agent:
                _agents.pop(self._config.ngrok_path, None)
        error: PyngrokError | None = None
        if process.is_process_running(self._config.ngrok_path):
            try:
                ngrok.disconnect(self.public_url, pyngrok_config=self._config)
            except PyngrokError as exc:
                error = exc
        if stop_agent:
            # Waits for the process to end, so once close() returns the agent is gone.
            ngrok.kill(pyngrok_config=self._config)
        elif error is not None:
            raise TunnelError(f"ngrok would not close the tunnel {self.public_url}: "
                              f"{_redactor.scrub(str(error))}") from None

    def __repr__(self) -> str:
        auth = f" basic_auth={self.basic_auth_user!r}" if self.basic_auth_user else ""
        state = "closed" if self._closed else "open"
        return (f"<Tunnel {self.public_url}{redact_path(self._path.reveal())} -> 127.0.0.1:{self.local_port}"
                f"{auth} {state}>")

    def _repr_html_(self) -> str:
        rows = [
            ("public URL", self.public_url),
            ("callback URL", self.public_url + redact_path(self._path.reveal())),
            ("forwards to", f"127.0.0.1:{self.local_port}"),
            ("basic auth", f"user {self.basic_auth_user}" if self.basic_auth_user else "off"),
            ("state", "closed" if self._closed else "open"),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
                       f"<td>{html.escape(value)}</td></tr>" for key, value in rows)
        return f"<table><caption style='text-align:left'><b>ngrok tunnel</b></caption>{body}</table>"


class LoopbackTunnel(_Endpoint):
    """A tunnel that is no tunnel, for the simulated backend: the callbacks stay on this machine.

    :param local_url: the receiver's full local URL, secret path included
        (``http://127.0.0.1:8765/callbacks/<token>``); it is the :attr:`callback_url`.
    :raises ValueError: when ``local_url`` is not an ``http(s)://host:port/…`` URL.
    """

    def __init__(self, local_url: str) -> None:
        parts = urlsplit(local_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("LoopbackTunnel needs the receiver's URL, like "
                             f"http://127.0.0.1:8765/callbacks/…; got {parts.scheme or 'no'} scheme")
        self.public_url = f"{parts.scheme}://{parts.netloc}"
        self.local_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.name = None
        self.basic_auth_user = None
        self._path = Secret(local_url[len(self.public_url):])
        self._closed = False

    @property
    def agent_pid(self) -> None:
        """There is no agent."""
        return None

    def ngrok_logs(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing to stop; marks the tunnel closed."""
        self._closed = True

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LoopbackTunnel {self.public_url}{redact_path(self._path.reveal())} (no ngrok) {state}>"

    def _repr_html_(self) -> str:
        return ("<table><caption style='text-align:left'><b>loopback tunnel</b> "
                "(simulated backend, no ngrok)</caption><tr><th style='text-align:left'>callback URL</th>"
                f"<td>{html.escape(self.public_url + redact_path(self._path.reveal()))}</td></tr></table>")


# --- opening ---------------------------------------------------------------------------------------------

def open_tunnel(port: int, auth_token: str | None = None, basic_auth: tuple[str, str] | None = None,
                domain: str | None = None, *, path: str = "", ngrok_path: str | None = None,
                config_path: str | None = None, startup_timeout: int = 15, **ngrok_options: Any) -> Tunnel:
    """Open an ngrok HTTP tunnel to ``127.0.0.1:port``.

    :param port: the local port to expose (the callback receiver's).
    :param auth_token: the ngrok authtoken; ``None`` reads ``NGROK_AUTHTOKEN``, and failing that the agent
        uses the one in its config file (``ngrok config add-authtoken``).
    :param basic_auth: ``(user, password)`` that ngrok asks every request for; the password must be 8 to
        128 characters (ngrok's rule).
    :param domain: a reserved ngrok domain (``you.ngrok.app``) to use instead of a random one.
    :param path: the receiver's secret path (``/callbacks/<token>``), or its whole local URL; it is
        appended to the public URL to make ``Tunnel.callback_url``.
    :param ngrok_path: the ngrok agent to run; default: pyngrok's (downloaded on first use).
    :param config_path: the agent's config file; default: ngrok's own.
    :param startup_timeout: seconds to wait for the agent to start.
    :param ngrok_options: passed through to :func:`pyngrok.ngrok.connect` (``traffic_policy``, ``name`` …).
    :raises ValueError: for a bad port, path, domain or basic_auth.
    :raises TunnelError: when the agent cannot be installed, cannot start or refuses the tunnel; the
        message says what to do.
    """
    port = _check_port(port)
    path = _check_path(path)
    credentials = _check_basic_auth(basic_auth)
    token = auth_token or os.environ.get("NGROK_AUTHTOKEN") or None
    if credentials:
        _redactor.add(credentials[1], ":".join(credentials))  # the user name is no secret
    _redactor.add(token)

    config = conf.PyngrokConfig(ngrok_path=ngrok_path, config_path=config_path, auth_token=token,
                                startup_timeout=startup_timeout)
    options = dict(ngrok_options)
    if domain:
        options["url"] = _check_domain(domain)
    if credentials:
        options["traffic_policy"] = _with_basic_auth(options.get("traffic_policy"), credentials)
    options.setdefault("name", f"catapult-nb-{port}-{uuid.uuid4().hex[:8]}")

    with _lock:
        started_here = not process.is_process_running(config.ngrok_path)
        try:
            endpoint = ngrok.connect(f"http://127.0.0.1:{port}", "http", pyngrok_config=config, **options)
        except PyngrokNgrokInstallError as exc:
            raise TunnelError(
                f"the ngrok agent could not be downloaded to {config.ngrok_path} "
                f"({_redactor.scrub(str(exc))}). Are you offline? Install the ngrok agent yourself "
                f"(https://ngrok.com/download) and pass ngrok_path='/path/to/ngrok', "
                f"or use the simulated backend, which needs no tunnel.") from None
        except PyngrokNgrokHTTPError as exc:
            raise TunnelError(f"the ngrok agent refused the tunnel ({exc.status_code}): "
                              f"{_redactor.scrub(exc.body or str(exc))}",
                              code=_error_code(exc.body)) from None
        except PyngrokNgrokError as exc:
            raise _agent_error(exc) from None
        except PyngrokError as exc:
            raise TunnelError(f"pyngrok could not open the tunnel: {_redactor.scrub(str(exc))}") from None
        except OSError as exc:
            raise TunnelError(f"cannot run the ngrok agent at {config.ngrok_path}: {exc.strerror}. "
                              f"Check that it is an executable ngrok binary, or pass ngrok_path=…") from None
        except yaml.YAMLError as exc:
            raise TunnelError(f"the ngrok config file {conf.get_config_path(config)} is not valid YAML "
                              f"({getattr(exc, 'problem', None) or 'parse error'}); fix it, or pass "
                              f"config_path=… to use another") from None
        tunnel = Tunnel(str(endpoint.public_url), port, path, name=endpoint.name, config=config,
                        basic_auth_user=credentials[0] if credentials else None, _credentials=credentials)
        use = _agents.get(config.ngrok_path)
        if use is None or started_here:
            use = _agents[config.ngrok_path] = _AgentUse(config, started_here)
        use.tunnels.add(id(tunnel))
        _open_tunnels[id(tunnel)] = tunnel
    logger.info("tunnel open: %r", tunnel)
    return tunnel


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be the receiver's local port, an integer from 1 to 65535; got {port!r}")
    return port


def _check_path(path: str) -> str:
    if not isinstance(path, str):
        raise ValueError(f"path must be the receiver's path as a string, like '/callbacks/<token>'; "
                         f"got {type(path).__name__}")
    if "://" in path:
        path = urlsplit(path).path
    if path and not path.startswith("/"):
        raise ValueError("path must start with '/', like '/callbacks/<token>' (the receiver's path)")
    return "" if path == "/" else path


def _check_basic_auth(basic_auth: tuple[str, str] | None) -> tuple[str, str] | None:
    if basic_auth is None:
        return None
    if not (isinstance(basic_auth, (tuple, list)) and len(basic_auth) == 2
            and all(isinstance(x, str) for x in basic_auth)):
        raise ValueError("basic_auth must be a (user, password) pair of strings")
    user, password = basic_auth
    if not user or ":" in user:
        raise ValueError("basic_auth user must be non-empty and contain no ':'")
    if not 8 <= len(password) <= 128:
        raise ValueError(f"ngrok needs a basic_auth password of 8 to 128 characters; this one has "
                         f"{len(password)}")
    return user, password


def _check_domain(domain: str) -> str:
    url = domain if "://" in domain else f"https://{domain}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise ValueError(f"domain must be a host name like 'you.ngrok.app'; got {domain!r}")
    return url


def _with_basic_auth(policy: Any, credentials: tuple[str, str]) -> dict[str, Any]:
    """The traffic policy with a basic-auth action first in ``on_http_request``."""
    rule = {"actions": [{"type": "basic-auth", "config": {"credentials": [":".join(credentials)]}}]}
    if policy is not None and not isinstance(policy, dict):
        raise ValueError("to combine basic_auth with your own traffic_policy, pass the policy as a dict")
    combined: dict[str, Any] = dict(policy or {})
    combined["on_http_request"] = [rule, *combined.get("on_http_request", [])]
    return combined


def _error_code(text: str | None) -> str | None:
    match = re.search(r"ERR_NGROK_\d+", text or "")
    return match.group(0) if match else None


def _agent_error(exc: PyngrokNgrokError) -> TunnelError:
    """Turn the agent's start-up failure into an error that says what to do."""
    logs = [_redactor.scrub(log.line) for log in exc.ngrok_logs]
    code = exc.ngrok_error_code or _error_code(str(exc))
    if code in _AUTHTOKEN_CODES:
        reason = "has no authtoken" if code == "ERR_NGROK_4018" else "rejected the authtoken"
        message = (f"ngrok {reason} ({code}). Set NGROK_AUTHTOKEN (or pass auth_token=…) to your authtoken "
                   f"from {AUTHTOKEN_URL}, then run this again.")
    elif code == _SESSION_LIMIT_CODE:
        message = (f"an ngrok agent from an earlier kernel is still running and holds your account's only "
                   f"agent session ({code}). Call catapult_nb.tunnel.kill_agents() or run `pkill ngrok`, "
                   f"or restart the machine's other ngrok agent, then run this again.")
    else:
        detail = _redactor.scrub(exc.ngrok_error or str(exc)).rstrip(". ")
        message = (f"the ngrok agent did not start: {detail}. Its recent log lines are in the error's "
                   f".ngrok_logs.")
    return TunnelError(message, code=code, ngrok_logs=logs)


# --- stopping agents -------------------------------------------------------------------------------------

def kill_agents(ngrok_path: str | None = None, timeout: float = 5.0) -> int:
    """Stop ngrok agents: those this interpreter started and, on Linux, those of earlier kernels.

    An agent left running by an earlier kernel holds the account's agent session, so a new one cannot
    start (``ERR_NGROK_108``). This stops every agent process of the current user whose executable is
    ``ngrok_path`` (default: any program named ``ngrok``), waiting up to ``timeout`` seconds for each to
    exit before killing it outright.

    :param ngrok_path: only stop agents run from this path.
    :param timeout: seconds to wait for an agent to exit after SIGTERM.
    :return: how many agent processes were stopped.
    """
    stopped = 0
    with _lock:
        for path, use in list(_agents.items()):
            if ngrok_path is not None and os.path.realpath(path) != os.path.realpath(ngrok_path):
                continue
            for tunnel_id in list(use.tunnels):
                tunnel = _open_tunnels.pop(tunnel_id, None)
                if tunnel is not None:
                    tunnel._closed = True
            _agents.pop(path, None)
            if process.is_process_running(path):
                ngrok.kill(pyngrok_config=use.config)
                stopped += 1
    for pid in _agent_pids(ngrok_path):
        if _stop_process(pid, timeout):
            stopped += 1
    return stopped


def _agent_pids(ngrok_path: str | None) -> list[int]:
    """Agent processes of this user (Linux ``/proc``); a script agent shows as ``python /path/ngrok``."""
    if not os.path.isdir("/proc"):
        return []
    target = os.path.realpath(ngrok_path) if ngrok_path else None
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue  # the process ended while we looked
        if "start" not in argv:
            continue
        if target is not None:
            matches = any(os.path.realpath(a) == target for a in argv[:2])
        else:
            matches = bool(argv) and os.path.basename(argv[0]) in ("ngrok", "ngrok.exe")
        if matches:
            pids.append(int(entry))
    return pids


def _stop_process(pid: int, timeout: float) -> bool:
    """SIGTERM, wait for the exit on a pidfd, SIGKILL if it does not come. False if it was already gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, AttributeError, OSError):
        pidfd = None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if pidfd is None:
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            logger.warning("ngrok agent %d ignored SIGTERM for %.1f s; killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            poller.poll(timeout * 1000)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
    return True


@atexit.register
def _close_all() -> None:
    """Close what is still open when the interpreter exits, so no agent outlives its kernel."""
    for tunnel in list(_open_tunnels.values()):
        try:
            tunnel.close()
        except (TunnelError, PyngrokError, OSError) as exc:  # exiting: report, but let the exit go on
            logger.warning("closing %r at exit failed: %s", tunnel, exc)
