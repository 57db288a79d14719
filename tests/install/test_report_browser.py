"""The report in a real browser: a small sweep run with the built dposweep,
`/usr/bin/python3 -m analysis report` on it, and report/index.html opened
in headless Chromium, driven over the DevTools protocol (on a pipe, so no
port and no extra package).  The page must load with no console message
of level error or warning, no uncaught exception and no failed request;
every image must have decoded (naturalWidth > 0) and show more than one
colour on screen (a pixel check of its part of a screenshot); every link
must point at a file of the report that exists and is not empty, or at an
element of the page.  The checker itself is tested on a page with each
kind of fault.  Skipped with a message where Chromium is missing."""

import base64
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from urllib.parse import unquote, urlparse

import pytest

from conftest import ENV, SOURCE_ROOT, find_tool

CHROMIUM = ENV.get("CHROMIUM") or find_tool("chromium", "chromium-browser",
                                            "google-chrome")
if not CHROMIUM:
    pytest.skip("Chromium not installed (apt-get install chromium)",
                allow_module_level=True)
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else ENV["INSTALL_PYTHON"]

# Small, but with every kind of figure: a theory study (the bounds) and
# the authors' exact and sampled settings (the paper figure).
SPEC = """\
name: browser
master_seed: 11
studies:
  - name: theory
    iterations: 10
    scale: theory
    eta: theory
    rewards: uniform
    seeds: 2
    grid:
      regime: [uniform, mix-r, mix-p]
      arms: [3, 5]
      beta: [1.0]
      sigma: [0.0]
  - name: authors-exact
    iterations: 20
    scale: normalized
    eta: 10.0
    rewards: normal
    seeds: 2
    grid:
      regime: [uniform, mix-p]
      arms: [8]
      beta: [3.0]
      sigma: [0.0]
  - name: authors-sampled
    iterations: 20
    scale: normalized
    eta: 10.0
    rewards: normal
    seeds: 2
    grid:
      regime: [uniform, mix-p]
      arms: [8]
      beta: [3.0]
      sigma: [0.0]
      samples: [64]
"""

INSPECT = """JSON.stringify({
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {src: i.getAttribute('src'), complete: i.complete,
            width: i.naturalWidth, x: r.left + window.scrollX,
            y: r.top + window.scrollY, w: r.width, h: r.height};
  }),
  links: Array.from(document.querySelectorAll('[href]')).map(
    a => ({href: a.getAttribute('href'), url: a.href})),
  ids: Array.from(document.querySelectorAll('[id],[name]')).map(
    e => e.id || e.getAttribute('name')),
  title: document.title
})"""


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3 in,
    fd 4 out, NUL-terminated JSON messages)."""

    def __init__(self, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()

        def fds():
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             "--no-first-run", "--no-default-browser-check",
             "--window-size=1400,1000", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._id = 0
        self.events = []

    def _recv(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._r], [], [], max(0, left))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            data = os.read(self._r, 1 << 16)
            if not data:
                raise EOFError("Chromium closed its pipe: "
                               + self.proc.stderr.read().decode()[-2000:])
            self._buf += data
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event):
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._recv(deadline))

    def close(self):
        try:
            self.call("Browser.close")
            self.proc.wait(timeout=20)
        except Exception:  # noqa: BLE001  (a dead browser is closed too)
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


def inspect_page(path):
    """Load path in Chromium; return (page facts, problems)."""
    browser = Browser()
    try:
        target = browser.call("Target.createTarget",
                              {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})[
                                   "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.events.clear()
        browser.call("Page.navigate", {"url": path.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        facts = json.loads(browser.call(
            "Runtime.evaluate", {"expression": INSPECT,
                                 "returnByValue": True},
            session=session)["result"]["value"])
        problems = browser_problems(browser.events)
        problems += image_problems(browser, session, facts["images"])
        problems += link_problems(path, facts)
        return facts, problems
    finally:
        browser.close()


def browser_problems(events):
    problems = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and \
                p["type"] in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", "")))
                            for a in p["args"])
            problems.append(f"console {p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            problems.append("exception: "
                            + p["exceptionDetails"].get("text", "")
                            + " " + str(p["exceptionDetails"].get(
                                "exception", {}).get("description", "")))
        elif method == "Log.entryAdded" and \
                p["entry"]["level"] in ("error", "warning"):
            entry = p["entry"]
            problems.append(f"log {entry['level']}: {entry['text']} "
                            f"{entry.get('url', '')}")
        elif method == "Network.loadingFailed":
            problems.append(f"request failed: {p['errorText']}")
    return problems


def image_problems(browser, session, images):
    import numpy as np  # Debian's python3 (matplotlib reads the PNG)
    from matplotlib import image as mpimg
    problems = []
    for img in images:
        if not img["complete"] or img["width"] == 0:
            problems.append(f"broken image: {img['src']}")
            continue
        if img["w"] < 2 or img["h"] < 2:
            problems.append(f"image not shown: {img['src']}")
            continue
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": img["x"], "y": img["y"], "width": img["w"],
                     "height": img["h"], "scale": 1}}, session=session)
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(shot["data"])),
                              format="png")
        colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
        if len(colours) < 3:
            problems.append(f"image blank on screen: {img['src']}")
    return problems


def link_problems(page, facts):
    problems = []
    for link in facts["links"]:
        url = urlparse(link["url"])
        if link["href"].startswith("#"):
            if link["href"][1:] not in facts["ids"]:
                problems.append(f"broken anchor: {link['href']}")
        elif url.scheme == "file":
            target = unquote(url.path)
            if not os.path.isfile(target) or os.path.getsize(target) == 0:
                problems.append(f"broken link: {link['href']}")
            elif not os.path.realpath(target).startswith(
                    os.path.realpath(page.parent) + os.sep):
                problems.append(f"link leaves the report: {link['href']}")
        elif url.scheme not in ("http", "https", "mailto"):
            problems.append(f"unexpected link: {link['href']}")
    return problems


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    (work / "spec.yaml").write_text(SPEC)
    run = subprocess.run([ENV["DPOSWEEP"], "run", "spec.yaml", "-o",
                          "browser.h5", "-q"], cwd=work, capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    env = dict(os.environ, PYTHONPATH=str(SOURCE_ROOT), MPLBACKEND="Agg")
    rep = subprocess.run([PYTHON, "-m", "analysis", "report", "browser.h5",
                          "-o", "report"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=240)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "report: report/index.html" in rep.stdout
    return work / "report" / "index.html"


def test_report_in_chromium(report):
    facts, problems = inspect_page(report)
    print(f"{len(facts['images'])} images, {len(facts['links'])} links")
    assert problems == []
    assert facts["title"].startswith("dposweep report")
    srcs = {img["src"] for img in facts["images"]}
    assert "figures/paper-figure.png" in srcs
    assert any(s.startswith("figures/theory-") for s in srcs)
    hrefs = {link["href"] for link in facts["links"]}
    assert {s[:-4] + ".pdf" for s in srcs} <= hrefs, "each PNG links its PDF"
    assert any(h.endswith(".csv") for h in hrefs)


def test_checker_finds_faults(tmp_path, report):
    """A page with one fault of each kind: the checker names them all."""
    shutil.copy(report.parent / "figures" / "paper-figure.png",
                tmp_path / "ok.png")
    import numpy as np
    from matplotlib import image as mpimg
    mpimg.imsave(tmp_path / "blank.png", np.full((16, 16, 3), 0.5))
    (tmp_path / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        "<img src='ok.png'><img src='missing.png'>"
        "<img src='blank.png' width='100' height='100'>"
        "<a href='nowhere.csv'>x</a><a href='#nope'>y</a>"
        "<script>console.error('boom'); undefinedFunction();</script>"
        "</body></html>")
    _, problems = inspect_page(tmp_path / "page.html")
    text = "\n".join(problems)
    for fault in ("broken image: missing.png", "image blank on screen: "
                  "blank.png", "broken link: nowhere.csv",
                  "broken anchor: #nope", "console error: boom",
                  "exception:", "request failed"):
        assert fault in text, f"checker missed {fault!r} in:\n{text}"
    assert "ok.png" not in text
