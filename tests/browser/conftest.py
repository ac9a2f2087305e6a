"""Browser journeys: the hub served on 127.0.0.1, driven by Debian's Chromium via Playwright.

- `live_server`: the test's app (its own database) served by werkzeug in a thread,
  on a free port of 127.0.0.1.
- `chromium`: one headless Chromium for the session (/usr/bin/chromium, never a
  downloaded build).
- `hub_page(locale)`: a fresh browser context whose every page visit is checked
  with `Visit.check`: <html lang>, no Thai script in a Lao page, a screenshot under
  test-artifacts/screenshots/, axe-core with zero serious or critical violations;
  and every request the browser makes must go to the hub itself.

Locally, a missing Chromium or npm skips these tests with the reason; in CI
(`CI` set) it fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hub.i18n_check import english_source_strings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
THAI = re.compile("[\u0e00-\u0e7f]")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|\b)")
BLOCKING = ("serious", "critical")
#: Every piece of text a reader sees: text nodes, labels in attributes, the title;
#: machine text (code, signed notes, translate="no") is left out.
VISIBLE_TEXT_JS = """() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const machine = 'code, pre, kbd, samp, script, style, [translate="no"]';
  while (walker.nextNode())
    if (!walker.currentNode.parentElement.closest(machine)) out.push(walker.currentNode.nodeValue);
  for (const el of document.querySelectorAll('[aria-label],[title],[placeholder],[alt]'))
    for (const name of ['aria-label', 'title', 'placeholder', 'alt'])
      if (el.hasAttribute(name)) out.push(el.getAttribute(name));
  return out;
}"""


#: Lao text that would lose its marks above or below the line: clipped boxes, tight
#: line spacing, or text-transform (which Lao does not have).
LAO_LAYOUT_JS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (['OPTION', 'SELECT', 'SCRIPT', 'STYLE'].includes(el.tagName)) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.nodeValue).join('');
    if (!/[\u0e80-\u0eff]/.test(own) || !el.getClientRects().length) continue;
    const s = getComputedStyle(el);
    const what = el.tagName + ' ' + own.trim().slice(0, 24);
    if (s.textTransform !== 'none') bad.push('text-transform: ' + what);
    if (/(hidden|clip)/.test(s.overflowY) && el.scrollHeight > el.clientHeight + 1)
      bad.push('clipped: ' + what);
    const line = parseFloat(s.lineHeight), size = parseFloat(s.fontSize);
    if (!isNaN(line) && line < 1.5 * size)
      bad.push('line-height ' + (line / size).toFixed(2) + ': ' + what);
  }
  return bad;
}"""


def _pieces(texts: list[str]) -> set[str]:
    # Templates add punctuation around a message ("Conditions of use:", "Title · BLO Hub").
    pieces = set()
    for text in texts:
        for part in re.split(r"\s+·\s+|\n", text or ""):
            part = part.strip().rstrip(":").strip()
            if part:
                pieces.add(part)
    return pieces


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the journeys, and run them last: Playwright leaves threads behind for the
    rest of the session, and tests that fork (audit verify's forked half) need a
    process with one thread."""
    browser = [item for item in items if HERE in Path(str(item.fspath)).parents]
    for item in browser:
        item.add_marker(pytest.mark.browser)
    chosen = set(browser)
    items[:] = [item for item in items if item not in chosen] + browser


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser journeys")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from the npm registry, installed from the lock file only when missing."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed (apt-get install npm) so axe-core cannot be fetched")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        _unavailable("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test's app on http://127.0.0.1:<free port>, served from a thread."""
    from werkzeug.serving import make_server

    from hub.extensions import db

    # The test thread must hold no transaction while the server writes (SQLite is
    # BEGIN IMMEDIATE: even an open read would block it).
    db.session.commit()
    db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        db.session.remove()


class Visit:
    """One user's browser: pages visited in one context, each checked the same way."""

    def __init__(self, context, base: str, axe: str, folder: Path):
        self.context = context
        self.base = base
        self.axe = axe
        self.folder = folder
        self.requests: list[str] = []
        self.count = 0
        context.on("request", lambda request: self.requests.append(request.url))
        # A border post may have no internet: nothing may leave the machine.
        context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        self.page = context.new_page()

    def goto(self, path: str):
        response = self.page.goto(self.base + path)
        assert response is not None
        return response

    def check(self, name: str, lang: str) -> dict:
        """Assert what every page must be; return the axe result for extra checks."""
        page = self.page
        page.wait_for_load_state("load")
        page.evaluate("document.fonts.ready.then(() => true)")
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)
        assert page.evaluate("document.documentElement.lang") == lang, name
        text = page.inner_text("body")
        if lang == "lo":
            assert not THAI.search(text), f"Thai script on {name}: {THAI.findall(text)[:5]}"
            cramped = page.evaluate(LAO_LAYOUT_JS)
            assert not cramped, f"Lao marks at risk on {name}: {cramped[:5]}"
        if lang in ("vi", "lo"):
            shown = page.evaluate(VISIBLE_TEXT_JS)
            english = sorted(_pieces(shown) & english_source_strings(lang))
            assert not english, f"English left on {name} ({lang}): {english}"
            iso = [t for t in shown if t and ISO_DATE.search(t)]
            assert not iso, f"ISO dates on {name} ({lang}), not the locale's: {iso[:3]}"
        page.evaluate(self.axe)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [v for v in result["violations"] if v.get("impact") in BLOCKING]
        assert not bad, f"axe on {name}: " + json.dumps(
            [
                {
                    "id": v["id"],
                    "impact": v["impact"],
                    "nodes": [n["target"] for n in v["nodes"][:3]],
                }
                for v in bad
            ],
            ensure_ascii=False,
        )
        self.assert_only_local_requests()
        return result

    def assert_only_local_requests(self) -> None:
        outside = [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob")
            and urlsplit(url).hostname != "127.0.0.1"
        ]
        assert not outside, f"requests left the hub: {outside}"

    def rendering_fonts(self, selector: str) -> list[dict]:
        """The fonts Chromium actually drew `selector`'s text with (DevTools protocol)."""
        cdp = self.context.new_cdp_session(self.page)
        try:
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument")["root"]["nodeId"]
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
            assert node, f"nothing matches {selector}"
            return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        finally:
            cdp.detach()


@pytest.fixture
def hub_page(request, chromium, live_server, axe_source):
    """Builder: hub_page("lo") -> a Visit whose browser asks for that language
    (`javascript=False`: a browser that runs none of the page's scripts)."""
    contexts = []
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    def open_browser(locale: str, *, who: str = "", javascript: bool = True) -> Visit:
        context = chromium.new_context(
            locale=locale, viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
        )
        contexts.append(context)
        folder = SCREENSHOTS / test_name / (who or f"browser{len(contexts)}")
        if folder.exists():
            shutil.rmtree(folder)
        return Visit(context, live_server, axe_source, folder)

    yield open_browser
    for context in contexts:
        context.close()


def log_in(visit: Visit, username: str, password: str, lang: str) -> None:
    """Through the real login form; the page it lands on is checked by the caller."""
    visit.goto("/login")
    visit.check("login", lang)
    visit.page.fill("#username", username)
    visit.page.fill("#password", password)
    visit.page.click("form.narrow button[type=submit]")
    visit.page.wait_for_load_state("load")
