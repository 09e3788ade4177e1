"""The HTML report as a person sees it: opened from file:// in headless Chromium.

Chromium is driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`, JSON messages
separated by NUL bytes on file descriptors 3 and 4), so the test needs only the standard library and
sees every console error and uncaught exception, not just the final DOM.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_report import make_run_folder  # the synthetic run folder the report tests use

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 60.0  # seconds for any single DevTools answer; generous for a 2-core CI machine
ALL_FIGURES_DRAWN = "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))"


class DevToolsPipe:
    """A minimal DevTools client: one page, commands answered in order, events collected."""

    def __init__(self, executable: str, profile: Path, *, width: int = 1280, height: int = 2000):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():
            # Move both ends above 9 first, so dup2 onto 3 and 4 cannot overwrite one with the other.
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
            "--mute-audio", f"--user-data-dir={profile}", f"--window-size={width},{height}",
            "--remote-debugging-pipe", "about:blank",
        ]
        # close_fds=False: Python's own descriptors are non-inheritable anyway (PEP 446); only the two
        # dup2'ed pipe ends (inheritable by construction) reach the browser.
        self.process = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _read(self):
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)

    def call(self, method: str, params: dict | None = None, *, session: bool = False) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._get()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, *, since: int = 0) -> dict:
        """The first `method` event from events[since] on, waiting for it if needed."""
        for event in self.events[since:]:
            if event.get("method") == method:
                return event
        while True:
            event = self._get()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _get(self) -> dict:
        try:
            message = self._messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise TimeoutError(f"Chromium sent nothing for {TIMEOUT:.0f} s") from None
        if message is None:
            raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
        return message

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far, as readable lines."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                          for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']} ({params['entry'].get('url', '')})")
        return found

    def close(self):
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


def open_page(browser: DevToolsPipe, path: Path) -> None:
    before = len(browser.events)
    browser.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
    browser.wait_for("Page.loadEventFired", since=before)
    # Plotly may finish drawing after the load event; wait until every figure has its SVG, with a
    # bound so that a broken page fails the assertions below instead of hanging.
    deadline = time.monotonic() + TIMEOUT
    while not browser.evaluate(ALL_FIGURES_DRAWN) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from tumorbench.report import build_report

    run = make_run_folder(tmp_path_factory.mktemp("browser_run"))
    return build_report(run)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    client = DevToolsPipe(CHROMIUM, tmp_path_factory.mktemp("chromium_profile"))
    yield client
    client.close()


def test_report_renders_without_errors_and_shows_the_numbers(report, browser, tmp_path):
    open_page(browser, report)
    screenshot = browser.screenshot(tmp_path / "report.png")

    assert browser.errors() == []
    assert screenshot.stat().st_size > 10_000  # a blank page is a few kB
    metrics = json.loads((report.parent / "metrics.json").read_text())
    text = browser.evaluate("document.body.innerText")
    for model, m in metrics["models"].items():
        assert model in text
        assert f"{m['accuracy']:.3f}" in text
        assert f"{m['macro']['f1']:.3f}" in text
    assert f"Prefer {metrics['ranking'][0]}" in text
    figures = browser.evaluate("document.querySelectorAll('.plotly-graph-div').length")
    # overview (+ every model's validation curves together) + confusion, ROC, precision-recall and reliability
    # per model + training curves where a history exists
    assert figures == 2 + 1 + 3 * 4 + 2 * 1
    assert browser.evaluate(ALL_FIGURES_DRAWN) is True
    # Each figure was drawn at the width of its box, so nothing is clipped.
    misfits = browser.evaluate(
        "[...document.querySelectorAll('.plotly-graph-div')].filter(d => "
        "Math.abs(d._fullLayout.width - d.getBoundingClientRect().width) > 2).map(d => d.id)"
    )
    assert misfits == []
    # The comparison table sorts in the page: by loss ascending, the lowest loss comes first.
    losses = {name: m["loss"] for name, m in metrics["models"].items()}
    first = browser.evaluate(
        "(() => { const th = [...document.querySelectorAll('#comparison-table th')]"
        ".find(h => h.textContent.trim() === 'loss'); th.click();"
        " return document.querySelector('#comparison-table tbody tr td:nth-child(2)').textContent.trim(); })()"
    )
    assert first == min(losses, key=losses.get)
    # Every compared number carries its interval; the paired tests and the calibration are on the page.
    cells = browser.evaluate("[...document.querySelectorAll('#comparison-table tbody td .ci')].map(c => c.textContent)")
    assert cells and all("–" in c for c in cells if c)
    low, high = metrics["models"]["resnet18"]["intervals"]["accuracy"]
    assert f"{low:.3f}–{high:.3f}" in text
    pairs = browser.evaluate("document.querySelectorAll('#pairwise-table tbody tr').length")
    assert pairs == len(metrics["comparison"]["tests"]) > 0
    assert "Holm p" in text and "Cochran's Q" in text
    assert browser.evaluate("document.querySelectorAll('#calibration-table tbody tr').length") == 3
    assert browser.errors() == []


def test_hostile_names_are_shown_not_executed(browser, tmp_path):
    from test_report import write_synthetic_predictions

    from tumorbench.report import evaluate_files

    hostile = "<img src=x onerror=window.__pwned=1>"
    path = write_synthetic_predictions(tmp_path / "p.csv", image_prefix=hostile, seed=3)
    out = evaluate_files([path], names=[hostile], out_dir=tmp_path / "out")
    open_page(browser, out)
    assert browser.evaluate("window.__pwned === undefined") is True
    assert browser.evaluate("document.querySelectorAll('img[src=x]').length") == 0
    assert hostile in browser.evaluate("document.body.innerText")
    assert browser.errors() == []


def test_at_a_glance_first_and_gallery_thumbnails_enlarge(browser, tmp_path):
    import numpy as np
    import torch

    from tumorbench.explain import write_gallery
    from tumorbench.external import load_model_source
    from tumorbench.models import create_model, get_model_entry
    from tumorbench.predictions.io import read_predictions
    from tumorbench.report import build_report

    run = make_run_folder(tmp_path)
    torch.manual_seed(0)
    torch.save(create_model("model_1", get_model_entry("model_1").preprocess.with_size(32)).state_dict(),
               tmp_path / "m.pt")
    predictor = load_model_source(tmp_path / "m.pt", arch="model_1", spec={"input_size": 32})
    predictions = run / "models" / "resnet18" / "predictions_test.csv"
    frame = read_predictions(predictions)
    images = np.random.default_rng(0).integers(0, 255, (len(frame), 1, 32, 32), dtype=np.uint8)
    write_gallery(predictions, frame, images, predictor=predictor, name="resnet18")
    open_page(browser, build_report(run))

    first = browser.evaluate("[...document.querySelectorAll('main h2')].slice(0, 2).map(h => h.textContent)")
    assert first == ["Checks", "At a glance"]  # the verdict first, then the scores
    rows = browser.evaluate("document.querySelectorAll('#checks-table tbody tr').length")
    assert rows == 8
    # Every check links to a section that exists in the page.
    assert browser.evaluate("[...document.querySelectorAll('#checks-table a')].every("
                            "a => document.getElementById(a.getAttribute('href').slice(1)) !== null)")
    tiles = browser.evaluate("document.querySelectorAll('button.tile img').length")
    assert tiles > 0
    assert browser.evaluate("[...document.querySelectorAll('button.tile img')]"
                            ".every(i => i.complete && i.naturalWidth > 0)")
    opened = browser.evaluate(
        "(() => { const t = document.querySelector('button.tile'); t.click();"
        " return [document.getElementById('lightbox').classList.contains('open'),"
        " document.getElementById('lb-label').textContent === t.dataset.label,"
        " document.querySelectorAll('#lb-probs tr').length,"
        " document.getElementById('lb-plain').naturalWidth > 0]; })()")
    assert opened[:3] == [True, True, 4]
    closed = browser.evaluate(
        "(() => { document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));"
        " return document.getElementById('lightbox').classList.contains('open'); })()")
    assert closed is False
    assert browser.errors() == []
