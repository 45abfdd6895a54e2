"""Drive JupyterLab from tests: a JupyterLab server in a sandbox, and a Playwright page that works it.

`LabServer` starts ``python -m jupyter lab`` on a free loopback port with a random token, in temporary
Jupyter config/data/runtime/settings/workspaces directories, with news and update checks turned off
and fake Catapult credentials in the kernel's environment. `LabPage` wraps a Playwright page with the
few gestures the browser tests need: open a notebook, wait for the kernel, run all cells, fill a
widget, click a button, read text.

Every wait is on a condition with a deadline (Playwright's auto-waiting, ``wait_for_function``, or a
queue fed by the server's log); nothing sleeps blindly.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import kernel_secrets
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

#: The project root: notebooks are copied from here, screenshots go under ``build/`` here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
SCREENSHOTS_DIR = PROJECT_ROOT / "build" / "screenshots"

#: Where Debian's chromium package puts its launcher; the tests never download a browser.
CHROMIUM = Path("/usr/bin/chromium")
#: Flags that keep headless Chromium quiet and offline: no sandbox (root in CI), no GPU, and none of
#: the background traffic (component updates, sync, safe-browsing lists) a fresh profile starts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

#: Environment variables that could carry real credentials into the kernel; dropped before starting.
_SCRUBBED_ENV = (
    "CATAPULT_USER_ID",
    "CATAPULT_API_TOKEN",
    "CATAPULT_API_SECRET",
    "NGROK_AUTHTOKEN",
    "NGROK_API_KEY",
    "JUPYTER_TOKEN",
)

#: User-level JupyterLab settings written into the sandbox.
_LAB_SETTINGS = {
    # No news feed, no update check (both call out to the internet), no toasts covering widgets.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # No autosave racing the test's own save.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # Every cell attached and rendered, so off-screen widgets can be found and read.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Widget state saved into the notebook, so the saved-notebook secret check covers it too.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}

_URL_IN_LOG = re.compile(r"http://127\.0\.0\.1:(\d+)/")


class LabStartError(RuntimeError):
    """JupyterLab did not come up; the message carries the tail of its log."""


def _mask(value: str) -> str:
    return f"{value[:2]}…(masked)" if value else "''"


class LabServer:
    """A JupyterLab server for one test session, isolated in a temporary directory.

    Attributes:
        url: base URL, ``http://127.0.0.1:<port>``.
        token: the server's random access token.
        secret: the fake ``CATAPULT_API_SECRET`` the kernel sees; tests check it never reaches a page.
        secrets_file: where the kernels record the real secrets of the sessions they open (a simulated
            session makes its own API secret and receiver token); read it with `kernel_secrets`.
        root_dir: the notebook directory the server serves (a copy of the project's ``notebooks/``).
        log_path: the server's combined stdout/stderr, for diagnosing a failed start or a test.
    """

    def __init__(
        self, sandbox: Path, *, notebooks: Path = NOTEBOOKS_DIR, extra_notebooks: Sequence[Path] = ()
    ):
        """Prepare (but do not start) a server.

        Args:
            sandbox: an empty temporary directory the server may use entirely.
            notebooks: the folder copied to become the server's root directory.
            extra_notebooks: further notebooks copied into the root (the harness's own fixtures).
        """
        self.sandbox = sandbox
        self.root_dir = sandbox / "notebooks"
        self.token = secrets.token_hex(24)
        self.secret = "s-" + secrets.token_urlsafe(24)
        self.log_path = sandbox / "jupyter-lab.log"
        self.secrets_file = sandbox / "kernel-secrets.json"
        self.url = ""
        self._notebooks = notebooks
        self._extra = list(extra_notebooks)
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._started = threading.Event()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"LabServer(url={self.url or None!r}, {state}, token={_mask(self.token)}, "
            f"secret={_mask(self.secret)}, root_dir={str(self.root_dir)!r})"
        )

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LabServer:
        """Start JupyterLab and return once ``/api/status`` answers.

        Raises:
            LabStartError: the server exited, or did not answer within ``timeout`` seconds; the
                message includes the end of its log.
        """
        self._prepare_dirs()
        command = [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",  # the OS picks a free port; the log tells which
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.terminals_enabled=False",
            # News feed and update check both call out to the internet from the server.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # The PyPI extension manager lists packages from pypi.org; the read-only one does not.
            "--LabApp.extension_manager=readonly",
            # window.jupyterapp lets a test run commands (Run All) without hunting through menus.
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self._process = subprocess.Popen(
            command,
            cwd=self.sandbox,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read_log, name="jupyter-lab-log", daemon=True)
        self._reader.start()
        try:
            port = self._wait_for_port(timeout)
            self.url = f"http://127.0.0.1:{port}"
            self._wait_for_status(timeout)
        except BaseException:
            self.stop()
            raise
        self._started.set()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the server (and so its kernels) down: terminate, then kill if it will not go."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _prepare_dirs(self) -> None:
        if self._notebooks.is_dir():
            skip = shutil.ignore_patterns(".ipynb_checkpoints")
            shutil.copytree(self._notebooks, self.root_dir, ignore=skip)
        else:
            self.root_dir.mkdir(parents=True)
        for notebook in self._extra:
            shutil.copy2(notebook, self.root_dir / notebook.name)
        settings = self.sandbox / "lab-settings"
        for relative, values in _LAB_SETTINGS.items():
            path = settings / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2), encoding="utf-8")
        for name in ("config", "data", "runtime", "workspaces", "ipython", "home"):
            (self.sandbox / name).mkdir(exist_ok=True)
        kernel_secrets.install(self.sandbox / "ipython", self.secrets_file)

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        venv_bin = str(Path(sys.executable).parent)
        env.update(
            # The venv's kernel spec says "python"; make sure that is the venv's interpreter.
            PATH=venv_bin + os.pathsep + env.get("PATH", ""),
            # User-level Jupyter state goes to the sandbox; the venv's own share/jupyter (kernel
            # spec, ipywidgets lab extension) stays on the search path through sys.prefix.
            JUPYTER_CONFIG_DIR=str(self.sandbox / "config"),
            JUPYTER_DATA_DIR=str(self.sandbox / "data"),
            JUPYTER_RUNTIME_DIR=str(self.sandbox / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.sandbox / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.sandbox / "workspaces"),
            IPYTHONDIR=str(self.sandbox / "ipython"),
            MPLBACKEND="Agg",
            PYTHONUNBUFFERED="1",
            CATAPULT_USER_ID="u-fake-user",
            CATAPULT_API_TOKEN="t-fake-token",
            CATAPULT_API_SECRET=self.secret,
            CNB_SECRETS_FILE=str(self.secrets_file),
        )
        return env

    def _read_log(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with self.log_path.open("w", encoding="utf-8") as log:
            for line in self._process.stdout:
                log.write(line)
                log.flush()
                if not self._started.is_set():  # only start-up waits read the lines
                    self._lines.put(line)
        self._lines.put(None)  # end of output: the process has gone

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabStartError(self._failure(f"JupyterLab printed no URL within {timeout:.0f} s"))
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise LabStartError(self._failure("JupyterLab exited during start-up"))
            match = _URL_IN_LOG.search(line)
            if match:
                return int(match.group(1))

    def _wait_for_status(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                response = self.api("/api/status", timeout=5)
                if response.ok:
                    return
                last_error = RuntimeError(f"HTTP {response.status_code}")
            except requests.RequestException as error:
                last_error = error
            # Between attempts, wait on the server's own output rather than sleeping.
            with contextlib.suppress(queue.Empty):
                if self._lines.get(timeout=0.2) is None:
                    raise LabStartError(self._failure("JupyterLab exited during start-up"))
        raise LabStartError(self._failure(f"/api/status did not answer within {timeout:.0f} s: {last_error}"))

    def _failure(self, what: str) -> str:
        return f"{what}; last lines of {self.log_path}:\n{self.log_tail()}"

    # -- helpers for tests ---------------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log with the token masked (for failure messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, _mask(self.token))

    def log_text(self) -> str:
        """The server's whole log so far (kernel stderr included)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, *, method: str = "GET", timeout: float = 10, **kwargs: Any) -> requests.Response:
        """Call the Jupyter server's REST API with the token (``path`` starts with ``/api/``)."""
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=timeout, **kwargs)

    def notebook_url(self, name: str) -> str:
        """The URL that opens notebook ``name`` (relative to the root) in JupyterLab."""
        # reset: start from an empty workspace, not the layout an earlier test left (its notebooks open)
        return f"{self.url}/lab/tree/{quote(name)}?reset&token={self.token}"

    def notebook_path(self, name: str) -> Path:
        """Where notebook ``name`` lives on disk (in the temporary root, never in the repository)."""
        return self.root_dir / name

    def add_notebook(self, source: Path, name: str | None = None) -> str:
        """Copy a notebook into the served root (e.g. one the lead added after start) and return its name."""
        target = self.root_dir / (name or source.name)
        shutil.copy2(source, target)
        return target.name

    def running_kernels(self) -> list[dict[str, Any]]:
        """The server's running kernels, as ``/api/kernels`` lists them."""
        response = self.api("/api/kernels")
        response.raise_for_status()
        return response.json()

    def shutdown_kernels(self) -> None:
        """Stop every kernel (between tests, so each notebook starts fresh and cheap)."""
        for kernel in self.running_kernels():
            self.api(f"/api/kernels/{kernel['id']}", method="DELETE")


class LabPage:
    """A Playwright page on a `LabServer`, with the gestures the browser tests use.

    Widgets are found by the CSS class ipywidgets' ``add_class`` puts on their outermost DOM node
    (for a Button, the ``<button>`` itself), inside the notebook panel on show. Every wait has a
    deadline (``timeout`` seconds unless given) and its failure says what was awaited.
    """

    def __init__(self, page: Page, server: LabServer, *, timeout: float = 60.0):
        """Args:
        page: a fresh Playwright page (its own browser context).
        server: the running JupyterLab it talks to.
        timeout: default deadline in seconds for each wait.
        """
        self.page = page
        self.server = server
        self.timeout = timeout
        #: URLs the page tried to fetch beyond loopback; they are aborted, and tests assert none.
        self.blocked_requests: list[str] = []
        page.set_default_timeout(timeout * 1000)
        page.context.route(lambda url: not _is_local(url), self._block)

    def _block(self, route: Route) -> None:
        self.blocked_requests.append(route.request.url)
        route.abort()

    def __repr__(self) -> str:
        return f"LabPage(url={self.page.url.replace(self.server.token, '…')!r})"

    # -- notebook lifecycle --------------------------------------------------------------------------

    def open_notebook(self, name: str) -> LabPage:
        """Open notebook ``name`` (relative to the server's root) and wait until its kernel is idle.

        Raises:
            AssertionError: the notebook or its kernel was not ready within the deadline.
        """
        self.page.goto(self.server.notebook_url(name))
        self._wait_js(
            """(path) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                return !!w && !!w.context && w.context.path === path
                    && !!w.node.querySelector('.jp-Notebook'); }""",
            f"JupyterLab to show {name}",
            None,
            arg=name,
        )
        self.wait_for_kernel_idle()
        return self

    def kernel_status(self) -> str:
        """The current notebook's kernel status as the status bar shows it ('idle', 'busy', 'starting'…)."""
        return self.page.evaluate(_JS_KERNEL_STATUS)

    def wait_for_kernel_idle(self, timeout: float | None = None) -> None:
        """Wait until the current notebook's kernel has started and is not executing."""
        self._wait_js(f"() => ({_JS_KERNEL_STATUS})() === 'idle'", "the kernel to be idle", timeout)

    def run_all(self, timeout: float | None = None) -> None:
        """Run every cell of the current notebook (Run ▸ Run All Cells) and wait until all have finished.

        Raises:
            AssertionError: cells were still running at the deadline, or a cell raised (its error
                name and message are quoted).
        """
        seconds = self.timeout if timeout is None else timeout
        # The command's promise settles when the last cell has run; race it with the deadline so a
        # stuck cell fails the test instead of hanging it.
        outcome = self.page.evaluate(
            """(ms) => Promise.race([
                window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => 'done'),
                new Promise(resolve => setTimeout(() => resolve('timeout'), ms)),
            ])""",
            seconds * 1000,
        )
        errors = self.cell_errors()
        assert not errors, "a notebook cell raised:\n" + "\n".join(errors)
        assert outcome == "done", f"Run All did not finish within {seconds:.0f} s"
        self.wait_for_cells_done(timeout)

    def wait_for_cells_done(self, timeout: float | None = None) -> None:
        """Wait until no code cell shows ``[*]`` (queued or running) and the kernel is idle again."""
        self._wait_js(_JS_ALL_CELLS_DONE, "every cell to finish (no [*] prompts, kernel idle)", timeout)

    def cell_errors(self) -> list[str]:
        """``ename: evalue`` of every error output in the current notebook's cells."""
        return self.page.evaluate(_JS_CELL_ERRORS)

    def save(self) -> Path:
        """Save the current notebook and wait until JupyterLab reports it clean; return its path on disk."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        self._wait_js(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return !!w && !!w.context && !w.context.model.dirty; }",
            "the notebook to be saved",
            None,
        )
        path = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
        return self.server.notebook_path(path)

    # -- widgets ---------------------------------------------------------------------------------------

    def widget(self, css_class: str) -> Locator:
        """The (first) widget carrying ``css_class`` in the notebook on show."""
        return self.page.locator(f"{_PANEL} .{css_class}").first

    def fill(self, css_class: str, value: str | float) -> None:
        """Type ``value`` into a Text, Textarea or (Bounded)Int/FloatText widget and commit it.

        Number boxes send their value to the kernel on Enter or blur, text boxes on every keystroke;
        leaving the field with Tab commits both kinds.
        """
        field = self.widget(css_class).locator("input, textarea").first
        field.fill(str(value))
        field.press("Tab")

    def click(self, css_class: str) -> None:
        """Click the Button widget carrying ``css_class`` (waits until it is visible and enabled)."""
        self.page.locator(f"{_PANEL} button.{css_class}, {_PANEL} .{css_class} button").first.click()

    def text(self, css_class: str) -> str:
        """The rendered text of the widget carrying ``css_class``."""
        return self.widget(css_class).inner_text()

    def wait_for_text(self, css_class: str, *needles: str, timeout: float | None = None) -> str:
        """Wait until the widget with ``css_class`` shows every one of ``needles``; return its text."""
        self.wait_for_element(f".{css_class}", *needles, timeout=timeout)
        return self.text(css_class)

    def wait_for_element(self, selector: str, *needles: str, timeout: float | None = None) -> Locator:
        """Wait for an element matching ``selector`` (in the notebook on show) whose text holds all
        ``needles``; return a locator for the first such element."""
        located = self.page.locator(f"{_PANEL} {selector}")
        try:
            self._wait_js(
                """([sel, needles]) => Array.from(document.querySelectorAll(sel))
                    .some(el => needles.every(n => el.innerText.includes(n)))""",
                f"an element {selector!r} showing {list(needles)!r}",
                timeout,
                arg=[f"{_PANEL} {selector}", list(needles)],
            )
        except AssertionError as error:
            shown = [text[:300] for text in located.all_inner_texts()] or "no such element in the page"
            raise AssertionError(f"{error}; it shows: {shown!r}") from None
        for needle in needles:
            located = located.filter(has_text=needle)
        return located.first

    # -- page-wide checks --------------------------------------------------------------------------------

    def page_text(self) -> str:
        """All text in the page plus every input's current value: what a screenshot could show."""
        return self.page.evaluate(
            """() => document.body.innerText + '\\n' + Array.from(
                document.querySelectorAll('input, textarea')).map(e => e.value).join('\\n')"""
        )

    def page_html(self) -> str:
        """The page's whole DOM serialised (attributes, hidden elements and all)."""
        return self.page.content()

    def screenshot(self, name: str, *, css_class: str | None = None) -> Path:
        """Save a PNG as ``build/screenshots/<name>``: the whole window, or one widget's box."""
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS_DIR / name
        # No focus ring or hover highlight left over from the last click in the picture.
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        self.page.mouse.move(0, 0)
        target = self.page if css_class is None else self.widget(css_class)
        target.screenshot(path=str(path))
        return path

    def _wait_js(self, expression: str, what: str, timeout: float | None, *, arg: Any = None) -> None:
        seconds = self.timeout if timeout is None else timeout
        try:
            self.page.wait_for_function(expression, arg=arg, timeout=seconds * 1000)
        except PlaywrightTimeoutError as error:
            raise AssertionError(f"waited {seconds:.0f} s for {what}; nothing came") from error


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in {"127.0.0.1", "localhost", "::1"}


#: The notebook panel on show (JupyterLab hides the others with lm-mod-hidden).
_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# The kernel status the status bar renders ("Python 3 (ipykernel) | Idle") comes from here.
_JS_KERNEL_STATUS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!w || !w.sessionContext) { return 'no-notebook'; }
    return w.sessionContext.kernelDisplayStatus;
}"""

_JS_ALL_CELLS_DONE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!w || !w.sessionContext || w.sessionContext.kernelDisplayStatus !== 'idle') { return false; }
    const prompts = Array.from(w.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
    return prompts.every(p => !p.textContent.includes('*'));
}"""

# Error outputs read from the notebook model: in the DOM they render just like stderr text.
_JS_CELL_ERRORS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!w || !w.content) { return []; }
    const found = [];
    for (const cell of w.content.widgets) {
        const outputs = cell.model.outputs;
        if (!outputs) { continue; }
        for (let i = 0; i < outputs.length; i++) {
            const out = outputs.get(i).toJSON();
            if (out.output_type === 'error') { found.push(`${out.ename}: ${out.evalue}`); }
        }
    }
    return found;
}"""
