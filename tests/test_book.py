"""The book, built with ``mkdocs build --strict`` and read in a real browser.

``--strict`` already fails the build on a broken link, a missing snippet or a docstring
mkdocstrings cannot read; this test checks what only a browser sees: that the pattern
pages' tabs work (threads by default, trio on a click, and the trio tab shows the trio
source), that every figure loads, and that no page script fails.

It uses the site in ``PATTERNS_SITE`` if that names a built one, and otherwise builds
its own into a temporary folder. It skips, saying what is missing, without the docs
extra, playwright or a Chromium (``CHROMIUM`` names one off the path). With
``PATTERNS_SCREENSHOT`` set, it also saves the workerpool page, trio chosen, as
``docs/book-screenshot.png``; by default it writes nothing into the repository.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# CI sets PATTERNS_BOOK_REQUIRED: there a missing piece is a failure, not a skip, so the
# browser test cannot pass by not running.
REQUIRED = bool(os.environ.get("PATTERNS_BOOK_REQUIRED"))


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"PATTERNS_BOOK_REQUIRED, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    import mkdocs  # noqa: F401
    from playwright import sync_api
except ImportError as missing:
    _unavailable(f"{missing.name} is missing: python -m pip install -e '.[dev,docs]'")

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
if not CHROMIUM:
    _unavailable("no Chromium: apt-get install chromium")

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "book-screenshot.png"
BUILD_TIMEOUT_S = 300
PAGE_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built book: ``PATTERNS_SITE``, or a fresh ``mkdocs build --strict``."""
    if named := os.environ.get("PATTERNS_SITE"):
        path = Path(named)
        assert (path / "index.html").is_file(), f"PATTERNS_SITE={named} holds no built site"
        return path
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-4000:]}"
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """The site served on loopback, for as long as this module's tests run.

    Module-scoped, so the server's thread and socket exist before the suite's leak
    check takes its count for each test, and are gone again when the module ends. A
    request's own thread ends with its connection (HTTP/1.0: one request each).
    """
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, the system's, driven by playwright (module-scoped, as above)."""
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"], timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def test_the_workerpool_page_shows_each_runtime_every_figure_and_no_errors(
    browser: Any, base_url: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        errors: list[str] = []

        def on_console(message: Any) -> None:
            if message.type == "error":
                errors.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(base_url + "patterns/workerpool/", wait_until="load", timeout=PAGE_TIMEOUT_MS)

        code = page.locator(".tabbed-set").first  # the three runtimes' sources
        shown = code.locator(".tabbed-block:visible")
        assert shown.count() == 1
        assert "on_threads.py" in shown.inner_text() and "import threading" in shown.inner_text(), (
            "the threads tab should show first"
        )

        code.locator(".tabbed-labels label").get_by_text("trio", exact=True).click()
        shown = code.locator(".tabbed-block:visible")
        assert shown.count() == 1
        trio = shown.inner_text()
        assert "on_trio.py" in trio and "import trio" in trio
        assert "from patterns.errgroup.on_trio import Group" in trio
        assert "import threading" not in trio and "import asyncio" not in trio

        images = page.evaluate(
            "() => Array.from(document.images, i => ({src: i.src, width: i.naturalWidth}))"
        )
        assert any(i["src"].endswith("/figures/pool-timeline.png") for i in images), images
        broken = [i["src"] for i in images if not i["width"] > 0]
        assert not broken, f"images that did not load: {broken}"
        assert not errors, "\n".join(errors)

        if os.environ.get("PATTERNS_SCREENSHOT"):
            code.evaluate("e => { e.scrollIntoView({block: 'start'}); window.scrollBy(0, -90) }")
            # The bytes, written here: with path=, playwright writes the file from a thread
            # of its event loop's executor, which outlives the test.
            SCREENSHOT.write_bytes(page.screenshot())
    finally:
        context.close()
