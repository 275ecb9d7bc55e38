"""A tiny headless-Chromium driver for tests, speaking the DevTools protocol over a pipe.

No extra dependency: Chromium is started with ``--remote-debugging-pipe`` and reads DevTools
commands (NUL-terminated JSON) on fd 3 and answers on fd 4 — the transport Playwright and
Puppeteer use. No TCP port is opened, nothing is downloaded.

``open_page(path_or_url, queries={...})`` loads a page, waits for it, evaluates JavaScript
expressions, records console errors, uncaught exceptions, failed loads and every request the
page made, and returns a :class:`PageResult` (iterable as ``console_errors, results, screenshot``).
The browser is started with ``--host-resolver-rules="MAP * ~NOTFOUND"`` so that no host name
resolves: a page that tries the network fails loudly (a console error) *and* the request is listed
in ``PageResult.external_requests``.

Example (in a test)::

    res = open_page(html_path, queries={"zones": "document.querySelectorAll('path.civgis-zones').length"})
    assert res.console_errors == [] and res.external_requests == []
    assert res.results["zones"] == 12
    (tmp_path / "map.png").write_bytes(res.screenshot)
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

#: schemes a fully local page may load from
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:", "devtools:")


def chromium_path() -> str:
    """The Chromium executable ($CIVGIS_CHROMIUM, else the Debian paths); a clear error without one."""
    env = os.environ.get("CIVGIS_CHROMIUM")
    for candidate in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise RuntimeError("Chromium not found: run `make system` (scripts/install-system.sh installs Debian chromium)")


@dataclass
class PageResult:
    console_errors: list[str]
    results: dict
    screenshot: bytes
    requests: list[str] = field(default_factory=list)

    @property
    def external_requests(self) -> list[str]:
        """Requests to anything that is not a local file / data / blob URL."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]

    def __iter__(self):  # console_errors, results, screenshot = open_page(...)
        return iter((self.console_errors, self.results, self.screenshot))


class CdpPipe:
    """A DevTools-protocol session over Chromium's ``--remote-debugging-pipe``."""

    def __init__(self, extra_args=(), width: int = 1280, height: int = 900):
        self.profile = tempfile.mkdtemp(prefix="civgis-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", '--host-resolver-rules=MAP * ~NOTFOUND',
            f"--window-size={width},{height}", "--remote-debugging-pipe", *extra_args, "about:blank",
        ]

        def child_fds():  # fd 3 = commands in, fd 4 = answers out
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds,
                                     pass_fds=(3, 4, to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    # -------------------------------------------------------------- transport
    def _read_message(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (crashed or failed to start)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(max(0.0, deadline - time.monotonic()))
            if reply is None:
                raise TimeoutError(f"DevTools call {method} timed out after {timeout} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            msg = self._read_message(left)
            if msg is not None:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float) -> dict | None:
        seen = len(self.events)
        if any(e.get("method") == method for e in self.events):
            return next(e for e in self.events if e.get("method") == method)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self._read_message(left)
            if msg is None:
                break
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        del seen
        return None

    def close(self) -> None:
        try:
            try:
                os.write(self._to_child, json.dumps({"id": 10**9, "method": "Browser.close"}).encode() + b"\0")
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _as_url(path_or_url) -> str:
    s = str(path_or_url)
    if "://" in s or s.startswith(("about:", "data:")):
        return s
    return Path(s).resolve().as_uri()


def _console_errors(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            errors.append(f"log[{entry.get('source')}]: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"network: {p.get('errorText')} ({p.get('blockedReason') or ''}) request {p.get('requestId')}")
    return errors


def open_page(path_or_url, *, queries: dict[str, str] | None = None, wait_for: str | None = None,
              timeout: float = 30.0, settle: float = 0.5, width: int = 1280, height: int = 900,
              actions: list[str] | None = None) -> PageResult:
    """Open a page in headless Chromium and report on it.

    Parameters
    ----------
    path_or_url : a file path or URL
    queries : name → JavaScript expression evaluated after load (values returned by value, JSON-able)
    wait_for : JavaScript expression polled until truthy after the load event (within ``timeout``)
    settle : seconds to keep collecting events after load (late console errors, requests)
    actions : JavaScript statements run (in order) after loading and before the queries
        (e.g. open a popup), each followed by a short settle

    Returns
    -------
    PageResult
        ``console_errors`` (console.error, uncaught exceptions, error log entries incl. CSP and
        network failures), ``results`` (the queries), ``screenshot`` (PNG bytes of the viewport),
        ``requests`` (every URL the page requested).
    """
    url = _as_url(path_or_url)
    with CdpPipe(width=width, height=height) as cdp:
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        cdp.events.clear()
        cdp.send("Page.navigate", {"url": url}, session=session)
        if cdp.wait_event("Page.loadEventFired", timeout) is None:
            raise TimeoutError(f"page did not load within {timeout} s: {url}")

        def evaluate(expr: str):
            r = cdp.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                         session=session)
            if "exceptionDetails" in r:
                raise RuntimeError(f"JavaScript failed: {expr}: {r['exceptionDetails'].get('exception', {}).get('description')}")
            return r.get("result", {}).get("value")

        if wait_for:
            deadline = time.monotonic() + timeout
            while not evaluate(wait_for):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"condition never became true: {wait_for}; console errors: "
                                       f"{_console_errors(cdp.events)}")
                cdp.pump(0.1)
        cdp.pump(settle)
        for action in actions or []:
            evaluate(action + "\n;undefined")  # statements; their value is not sent back
            cdp.pump(settle)
        results = {name: evaluate(expr) for name, expr in (queries or {}).items()}
        shot = base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
        cdp.pump(0.1)
        events = [e for e in cdp.events if e.get("sessionId", session) == session]
        requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        return PageResult(_console_errors(events), results, shot, requests)
