#!/usr/bin/env python3
"""A small fake ngrok v3 agent, so the tunnel code can be tested offline.

pyngrok runs whatever executable sits at ``ngrok_path``. This script behaves like the real agent as far
as pyngrok can see, and never touches the internet:

- ``ngrok version`` / ``ngrok --version`` print ``ngrok version 3.x.y``.
- ``ngrok start --none --log stdout [--config PATH] [--authtoken TOKEN] [--region R]`` starts the agent:
  it binds its local API on a free 127.0.0.1 port, then prints the start-up log lines in logfmt,
  including ``msg="starting web service" obj=web addr=127.0.0.1:PORT`` which pyngrok waits for, and
  ``client session established`` / ``tunnel session started``.
- The local API serves ``/api/endpoints`` (what pyngrok 9.1 uses with config version 3) and answers the
  same routes under ``/api/tunnels``: POST creates an endpoint, GET lists them or shows one, DELETE
  stops one (204).
- Each endpoint is a real HTTP server on 127.0.0.1; its URL (``http://127.0.0.1:PORT``) plays the part
  of the public URL. It forwards method, path, query, headers and body to the endpoint's upstream URL and
  sends the answer back, adding ``X-Forwarded-For/-Proto/-Host`` as ngrok does. An unreachable upstream
  gives 502 with ``ERR_NGROK_8012``. A ``basic-auth`` action in the endpoint's ``traffic_policy`` (or the
  legacy ``basic_auth`` list) is enforced: a missing or wrong ``Authorization`` gives 401.
- When the endpoint asks for a ``url`` (a reserved domain), the fake reports that URL, like the real
  agent; it then also serves the forwarder, reachable at the URL in ``fake_local_url``.

The authtoken comes, as for the real agent, from ``--authtoken``, then the config file's
``agent.authtoken``, then ``NGROK_AUTHTOKEN``. Failures are chosen by authtoken value or by the
``FAKE_NGROK_FAIL`` environment variable, and look like the real agent's (an ``lvl=eror`` line with the
``ERR_NGROK_…`` text, a ``lvl=crit`` line, exit status 1):

- no authtoken, or ``FAKE_NGROK_FAIL=authtoken``: ``ERR_NGROK_4018`` (sign up / install your authtoken).
- an authtoken starting with ``invalid``: ``ERR_NGROK_107``, whose text repeats the authtoken, as the real
  agent's does (so tests can check that it is scrubbed).
- ``FAKE_NGROK_FAIL=session-limit``: ``ERR_NGROK_108`` (one agent session per account).
- ``FAKE_NGROK_STATE_DIR=DIR``: the account limit is real: each running agent records its pid and
  authtoken in DIR, and a second agent with the same authtoken while the first is alive fails with
  ``ERR_NGROK_108``.

:func:`install` writes an executable ``ngrok`` wrapper into a directory (with a ``#!`` line naming this
interpreter) so each test gets its own agent path.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

VERSION = "3.19.1"

#: Request headers that belong to one hop and are not forwarded.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host",
               "proxy-authorization", "proxy-connection", "content-length"}

ERR_4018 = ("authentication failed: Usage of ngrok requires a verified account and authtoken.\n\n"
            "Sign up for an account: https://dashboard.ngrok.com/signup\n"
            "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
            "ERR_NGROK_4018\r\n")
ERR_107 = ("authentication failed: The authtoken you specified is properly formed, but it is invalid.\n\n"
           "Your authtoken: {token}\n\n"
           "This usually happens when:\n\n"
           "    - You reset your authtoken\n"
           "    - Your authtoken was for a team account that you were removed from\n\r\n\r\n"
           "ERR_NGROK_107\r\n")
ERR_108 = ("authentication failed: Your account is limited to 1 simultaneous ngrok agent sessions.\n"
           "You can run multiple simultaneous tunnels from a single agent session by defining the tunnels "
           "in your agent configuration file and starting them with the command `ngrok start --all`.\n"
           "You can view your current agent sessions in the dashboard:\n"
           "https://dashboard.ngrok.com/agents\r\n\r\n"
           "ERR_NGROK_108\r\n")


def log(lvl: str, msg: str, **fields: Any) -> None:
    """Print one logfmt line the way the agent does with ``--log stdout``."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")
    parts = [f"t={now}", f"lvl={lvl}", f"msg={json.dumps(msg)}"]
    for key, value in fields.items():
        text = str(value)
        needs_quotes = not text or any(c in text for c in ' ="\\\n\r')
        parts.append(f"{key}={json.dumps(text) if needs_quotes else text}")
    print(" ".join(parts), flush=True)


def parse_args(argv: list[str]) -> tuple[str, dict[str, str]]:
    """Split ``start --none --log stdout --config X`` into the command and its ``--flag value`` pairs."""
    command = ""
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            if name in ("none", "all", "version", "help"):
                flags[name] = "true"
            elif value:
                flags[name] = value
            elif i + 1 < len(argv):
                flags[name] = argv[i + 1]
                i += 1
        elif not command:
            command = arg
        i += 1
    return command, flags


def read_config_token(path: str | None) -> str | None:
    """The ``agent.authtoken`` (v3) or ``authtoken`` (v2) from the agent's config file, if any."""
    if not path or not os.path.exists(path):
        return None
    import yaml  # pyngrok depends on PyYAML, so it is always there when pyngrok is

    with open(path) as f:
        config = yaml.safe_load(f) or {}
    return (config.get("agent") or {}).get("authtoken") or config.get("authtoken")


def session_check(token: str) -> bool:
    """Record this agent's session; False when another live agent already holds the account's one session."""
    state_dir = os.environ.get("FAKE_NGROK_STATE_DIR")
    if not state_dir:
        return True
    account = hashlib.sha256(token.encode()).hexdigest()[:16]
    sessions = Path(state_dir, "sessions")
    sessions.mkdir(parents=True, exist_ok=True)
    for entry in sessions.glob(f"{account}-*"):
        pid = int(entry.name.rsplit("-", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            entry.unlink(missing_ok=True)  # that agent is gone: its session ended with it
            continue
        return False
    Path(sessions, f"{account}-{os.getpid()}").touch()
    return True


def fail(err: str) -> int:
    log("eror", "failed to reconnect session", obj="tunnels.session", err=err)
    log("crit", "command failed", err=err)
    return 1


class Agent:
    """The agent's local API and its endpoints' forwarding servers, on one event loop."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.runners: dict[str, web.AppRunner] = {}
        self.client: ClientSession | None = None

    def api_app(self) -> web.Application:
        app = web.Application()
        for prefix in ("/api/endpoints", "/api/tunnels"):
            key = "endpoints" if prefix.endswith("endpoints") else "tunnels"
            app.router.add_get(prefix, self.make_list(prefix, key))
            app.router.add_post(prefix, self.make_create(prefix))
            app.router.add_get(prefix + "/{name}", self.show)
            app.router.add_delete(prefix + "/{name}", self.delete)
        app.router.add_get("/api", self.root)
        app.router.add_get("/api/", self.root)
        return app

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response({"uri": "/api", "endpoints_uri": "/api/endpoints"})

    def make_list(self, prefix: str, key: str):
        async def list_endpoints(request: web.Request) -> web.Response:
            return web.json_response({key: list(self.endpoints.values()), "uri": prefix})
        return list_endpoints

    def make_create(self, prefix: str):
        async def create(request: web.Request) -> web.Response:
            try:
                options = await request.json()
            except ValueError:
                return api_error(400, 'invalid JSON body', "ERR_NGROK_8001")
            if not isinstance(options, dict):
                return api_error(400, "the request body must be an object", "ERR_NGROK_8001")
            name = str(options.get("name") or uuid.uuid4())
            if name in self.endpoints:
                return api_error(400, f'an endpoint named "{name}" already exists', "ERR_NGROK_8002")
            upstream = options.get("upstream") or {}
            upstream_url = upstream.get("url") if isinstance(upstream, dict) else upstream
            upstream_url = str(upstream_url or options.get("addr") or "80")
            if "://" not in upstream_url:
                upstream_url = f"http://localhost:{upstream_url}"
            credentials = basic_auth_credentials(options)
            runner = web.AppRunner(self.forward_app(upstream_url, credentials), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            local_url = f"http://127.0.0.1:{port}"
            public_url = str(options.get("url") or local_url)
            endpoint = {
                "name": name,
                "uri": f"{prefix}/{name}",
                "url": public_url,
                "public_url": public_url,
                "fake_local_url": local_url,
                "upstream": {"url": upstream_url, "protocol": "http1"},
                "traffic_policy": json.dumps(options.get("traffic_policy") or {}),
                "metadata": str(options.get("metadata", "")),
                "description": str(options.get("description", "")),
                "metrics": {"http": {"count": 0}},
            }
            self.endpoints[name] = endpoint
            self.runners[name] = runner
            log("info", "started tunnel", obj="tunnels", name=name, addr=upstream_url, url=public_url)
            return web.json_response(endpoint, status=201)
        return create

    async def show(self, request: web.Request) -> web.Response:
        endpoint = self.endpoints.get(request.match_info["name"])
        if endpoint is None:
            return api_error(404, "endpoint not found", "ERR_NGROK_8003")
        return web.json_response(endpoint)

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.endpoints:
            return api_error(404, "endpoint not found", "ERR_NGROK_8003")
        self.endpoints.pop(name)
        await self.runners.pop(name).cleanup()
        log("info", "stopped tunnel", obj="tunnels", name=name)
        return web.Response(status=204)

    def forward_app(self, upstream_url: str, credentials: list[str] | None) -> web.Application:
        async def forward(request: web.Request) -> web.StreamResponse:
            if credentials is not None and not authorized(request, credentials):
                return web.Response(status=401, text="Unauthorized",
                                    headers={"WWW-Authenticate": 'Basic realm="ngrok"'})
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
            headers["X-Forwarded-For"] = request.remote or "127.0.0.1"
            headers["X-Forwarded-Proto"] = request.scheme
            headers["X-Forwarded-Host"] = request.host
            assert self.client is not None
            try:
                target = upstream_url.rstrip("/") + str(request.rel_url)
                async with self.client.request(request.method, target, headers=headers,
                                               data=await request.read(), allow_redirects=False) as answer:
                    body = await answer.read()
                    out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
                    return web.Response(status=answer.status, body=body, headers=out)
            except (ClientError, asyncio.TimeoutError) as exc:
                return web.Response(status=502, text=f"ERR_NGROK_8012: failed to reach {upstream_url}: {exc}")

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        return app

    async def run(self) -> None:
        self.client = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=False)
        runner = web.AppRunner(self.api_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        # pyngrok probes the API right after these lines, so the API must already be listening.
        log("info", "starting web service", obj="web", addr=f"127.0.0.1:{port}", allow_hosts="[]")
        log("info", "client session established", obj="tunnels.session")
        log("info", "tunnel session started", obj="tunnels.session")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log("info", "received stop request", obj="app", stopReq="{local true}")
        for endpoint_runner in self.runners.values():
            await endpoint_runner.cleanup()
        await runner.cleanup()
        await self.client.close()


def basic_auth_credentials(options: dict[str, Any]) -> list[str] | None:
    """The ``user:password`` pairs the endpoint accepts, from a basic-auth action or ``basic_auth``."""
    if options.get("basic_auth"):
        value = options["basic_auth"]
        return list(value) if isinstance(value, list) else [str(value)]
    policy = options.get("traffic_policy") or {}
    if isinstance(policy, str):
        policy = json.loads(policy)
    for rule in policy.get("on_http_request", []):
        for action in rule.get("actions", []):
            if action.get("type") == "basic-auth":
                return list(action.get("config", {}).get("credentials", []))
    return None


def authorized(request: web.Request, credentials: list[str]) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        pair = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return pair in credentials


def api_error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error_code": code.rsplit("_", 1)[1], "status_code": status, "msg": message,
                              "details": {"err": message}}, status=status)


def main(argv: list[str] | None = None) -> int:
    command, flags = parse_args(sys.argv[1:] if argv is None else argv)
    if command == "version" or flags.get("version"):
        print(f"ngrok version {VERSION}", flush=True)
        return 0
    if command != "start":
        print(f"ERROR:  unknown command {command!r} (this fake agent knows `start` and `version`)",
              file=sys.stderr)
        return 2
    log("info", "no configuration paths supplied" if "config" not in flags else "open config file",
        path=flags.get("config", ""), err="nil")
    token = (flags.get("authtoken") or read_config_token(flags.get("config"))
             or os.environ.get("NGROK_AUTHTOKEN"))
    failure = os.environ.get("FAKE_NGROK_FAIL", "")
    if not token or failure == "authtoken":
        return fail(ERR_4018)
    if token.startswith("invalid"):
        return fail(ERR_107.format(token=token))
    if failure == "session-limit" or not session_check(token):
        return fail(ERR_108)
    asyncio.run(Agent().run())
    return 0


def install(directory: str | os.PathLike[str], name: str = "ngrok") -> Path:
    """Write an executable wrapper named ``name`` into ``directory`` that runs this fake agent.

    Giving every test its own path keeps pyngrok's per-path process registry, and any check on the
    agent's command line, apart from other tests'.
    """
    path = Path(directory, name)
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from fake_ngrok import main\n"
        "sys.exit(main())\n"
    )
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    sys.exit(main())
