"""The web example (examples/web): served by its stdlib one-liner on 127.0.0.1, driven in a
real headless Chromium, it shows the names `mmzoo sample FILE.gen.onnx --seed S` prints
for the same seed, temperature and top-k, and leaves a screenshot.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no
port, no extra package), so the test waits on the page's own "done" state with a
wall-clock timeout instead of guessing a virtual-time budget.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_mmzoo

WEB = REPO / "examples" / "web"
PRETRAINED = REPO / "mmzoo" / "pretrained"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # as root (CI containers) Chromium refuses to start without it
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers' /dev/shm is often 64 MB
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=900,640",
]
# (model, seed, temperature, top_k, n): top-k on and off, temperatures below and above 1,
# a negative seed (it wraps to 64 bits, as Python's `seed & 0xFFFFFFFFFFFFFFFF`)
CASES = [
    ("gru", 3, 0.8, 5, 12),
    ("transformer", 7, 1.0, 0, 12),
    ("mlp-bn", -5, 1.3, 0, 12),
    ("wavenet", 123456789012, 1.0, 3, 12),
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def ort_web() -> Path:
    """examples/web/node_modules/onnxruntime-web as the lockfile pins it (`npm ci
    --ignore-scripts`, what .ci/run does first); installed here if missing, under a lock
    so that two pytest workers do not both install."""
    dist = WEB / "node_modules" / "onnxruntime-web" / "dist"
    if (dist / "ort.wasm.min.mjs").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node/npm are not on PATH: cannot install onnxruntime-web (CI installs them)")
    with open(WEB / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dist / "ort.wasm.min.mjs").is_file():
            subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
    return dist


@pytest.fixture(scope="module")
def server(ort_web: Path) -> Iterator[str]:
    """The README's one-liner, on a free port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(WEB / "serve.py"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_server_serves_the_page_ort_and_the_zoo_only(server: str) -> None:
    status, body = fetch(server + "models.json")
    listed = {m["model"]: m["file"] for m in json.loads(body)}
    on_disk = {p.name[len("names-") : -len(".gen.onnx")] for p in PRETRAINED.glob("names-*.gen.onnx")}
    assert status == 200 and set(listed) == on_disk and len(on_disk) >= 9
    gru_status, gru = fetch(server + listed["gru"])
    assert gru_status == 200 and gru == (PRETRAINED / "names-gru.gen.onnx").read_bytes()
    assert fetch(server)[0] == 200 and b"app.mjs" in fetch(server)[1]
    assert fetch(server + "ort/ort.wasm.min.mjs")[0] == 200
    for path in (
        "serve.py",
        "package.json",
        "node_modules/onnxruntime-web/package.json",
        "ort/../serve.py",
        "ort/..%2f..%2fpackage.json",
        "models/names-gru.onnx",
        "models/..%2f__init__.py",
        "x/index.html",
    ):
        assert fetch(server + path)[0] == 404, path


class Chromium:
    """A headless Chromium and one page in it, over the DevTools protocol on fds 3 and 4."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_child, self._to_chrome = os.pipe()
        self._from_chrome, from_child = os.pipe()

        # The child reads commands on fd 3 and writes replies on fd 4. bash moves the pipes there
        # (subprocess would close fds 3 and 4 after a preexec_fn dup2'd them; dash takes fds 0-9 only).
        move = f'exec "$0" "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.log = profile / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["/bin/bash", "-c", move, exe, *args],
                pass_fds=(to_child, from_child),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    log = self.log.read_text(errors="replace")[-3000:]
                    raise AssertionError(f"Chromium closed the pipe (exit {self.proc.poll()}) during {method}:\n{log}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate, and wait until the new document is the one that answers."""
        self.page("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while self.js("location.href") != url:
            assert time.monotonic() < deadline, f"Chromium did not open {url}"
            time.sleep(0.05)

    def wait_state(self, states: tuple[str, ...] = ("done", "error"), timeout: float = 120) -> str:
        """Poll the page's body[data-state] until it is one of `states` (wall clock)."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.js("document.body ? document.body.dataset.state : null")
            if state in states:
                return state
            time.sleep(0.05)
        raise AssertionError(f"page state {state!r} after {timeout}s; status: {self.js('document.body.innerText')}")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def browser(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium; CI installs it)")
    chrome = Chromium(exe, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chrome
    finally:
        chrome.close()


def cli_names(model: str, seed: int, temperature: float, top_k: int, n: int) -> list[str]:
    args = ["sample", str(PRETRAINED / f"names-{model}.gen.onnx"), "-n", str(n), f"--seed={seed}"]
    args += ["--temperature", str(temperature)] + (["--top-k", str(top_k)] if top_k else [])
    return run_mmzoo(*args).stdout.splitlines()


def status(browser: Chromium) -> str:
    return browser.js("document.getElementById('status').textContent")


def page_names(browser: Chromium) -> list[str]:
    return browser.js("[...document.querySelectorAll('#names li')].map((li) => li.textContent)")


@pytest.mark.slow
def test_page_names_equal_the_clis(browser: Chromium, server: str) -> None:
    """The URL's settings first, then the controls set and the button pressed, as a user would."""
    model, seed, temperature, top_k, n = CASES[0]
    browser.open(f"{server}?model={model}&seed={seed}&temperature={temperature}&topk={top_k}&n={n}&run=1")
    assert browser.wait_state() == "done", status(browser)
    want = cli_names(model, seed, temperature, top_k, n)
    assert len(want) == n and page_names(browser) == want
    for model, seed, temperature, top_k, n in CASES[1:]:
        browser.js(
            f"""(() => {{
              const set = (id, v) => {{ document.getElementById(id).value = v; }};
              set("model", {json.dumps(model)}); set("seed", "{seed}"); set("temperature", "{temperature}");
              set("topk", "{top_k}"); set("count", "{n}");
              document.body.dataset.state = "clicked";
              document.getElementById("go").click();
            }})()"""
        )
        assert browser.wait_state() == "done", status(browser)
        got, want = page_names(browser), cli_names(model, seed, temperature, top_k, n)
        assert len(want) == n and got == want, (model, seed, temperature, top_k, got, want)
    # a different seed gives different names: the comparison above can fail
    assert cli_names(model, seed + 1, temperature, top_k, n) != got


@pytest.mark.slow
def test_screenshot(browser: Chromium, server: str, tmp_path: Path) -> None:
    """A screenshot of the page after a run, written to tmp_path (and to the path in
    MMZOO_WEB_SCREENSHOT, which is how docs/web.png is made)."""
    browser.open(f"{server}?model=transformer&seed=7&temperature=0.9&n=24&run=1")
    assert browser.wait_state() == "done", status(browser)
    assert len(page_names(browser)) == 24
    png = base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600 and height >= 400 and len(png) > 20_000, (width, height, len(png))
    (tmp_path / "web.png").write_bytes(png)
    if os.environ.get("MMZOO_WEB_SCREENSHOT"):
        Path(os.environ["MMZOO_WEB_SCREENSHOT"]).write_bytes(png)
