"""Helpers shared by the browser tests: a JupyterLab server and a static file server of our own
on 127.0.0.1, headless Chromium through Playwright, and a record of every request the page made.

Each server is a child of the test, bound to 127.0.0.1 on a free port, and stopped by the test
that started it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (127.0.0.1, data:, about:, blob: of 127.0.0.1)."""
    scheme = url.split(":", 1)[0]
    if scheme in ("data", "about"):
        return True
    if scheme == "blob":
        url = url[len("blob:"):]
    return urlparse(url).hostname == "127.0.0.1"


def _wait_until_up(url: str, proc, log: Path, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not answer within {seconds:.0f} s") from None
            time.sleep(0.5)


@contextlib.contextmanager
def jupyterlab(tmp_path: Path, notebooks, *, config_path=None, quiet_settings=True):
    """A JupyterLab server of our own with copies of ``notebooks`` in a temporary root.

    Yields ``(base_url, token, root)``; settings, workspaces, runtime and config folders are
    temporary too. ``quiet_settings`` writes user settings without news or update checks
    (False: only the environment's overrides.json decides, as in ``make lab``);
    ``config_path``: an extra Jupyter config folder (``JUPYTER_CONFIG_PATH``, e.g.
    web/lab/student). Stops the server by its PID.
    """
    root, settings, workspaces, runtime, config = (
        tmp_path / d for d in ("root", "settings", "workspaces", "runtime", "config"))
    for d in (root, workspaces, runtime, config):
        d.mkdir()
    for notebook in notebooks:
        notebook = Path(notebook)
        target = root / (notebook.name if notebook.is_absolute() else notebook)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook if notebook.is_absolute() else REPO / notebook, target)
    settings.mkdir()
    if quiet_settings:
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(config),
               MPLBACKEND="Agg")
    if config_path is not None:
        env["JUPYTER_CONFIG_PATH"] = str(config_path)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={workspaces}",
    ]
    log_path = tmp_path / "lab.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={token}", proc, log_path, "JupyterLab")
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_server(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a thread of this process); yields the base URL
    and a list that collects the path of every request answered with an error status."""
    errors: list[str] = []

    class Handler(_QuietHandler):
        def send_error(self, code, *args, **kwargs):
            errors.append(f"{code} {self.path}")
            super().send_error(code, *args, **kwargs)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", errors
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(sync_api, tmp_path: Path, *, width=1400, height=1000, scale=1, block_outside=False,
             errors=None):
    """A headless Chromium page; yields ``(page, requests)`` where ``requests`` collects the URL
    of every request and websocket the page opened. With ``block_outside``, every request that
    would leave 127.0.0.1 is aborted (and still recorded). ``errors``: a list that collects
    every uncaught page error and console error of the page."""
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / f"chromium-profile-{width}x{height}@{scale}"),
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height}, device_scale_factor=scale)
        try:
            context.on("request", lambda r: requests.append(r.url))
            if block_outside:
                context.route(lambda url: not is_local(url), lambda route: route.abort())
            page = context.pages[0] if context.pages else context.new_page()
            page.on("websocket", lambda ws: requests.append(ws.url))
            if errors is not None:
                page.on("pageerror", lambda err: errors.append(f"pageerror: {err}"))
                page.on("console", lambda msg: msg.type == "error" and errors.append(
                    f"console: {msg.text}"))
            page.set_default_timeout(TIMEOUT_MS)
            yield page, requests
        finally:
            context.close()


def outside(requests) -> list[str]:
    """The recorded URLs that left 127.0.0.1, sorted and without repeats."""
    return sorted({u for u in requests if not is_local(u)})


def run_all(page, expect):
    """Run every cell from the Run menu (again if the kernel was not wired up yet)."""
    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            expect(first_prompt).to_have_text(re.compile(r"\[(\d+|\*)\]"), timeout=15_000)
            return
        except AssertionError:
            if attempt == 2:
                raise
