"""Headless Chromium for the UI tests: Debian's browser driven by Playwright.

Never ``playwright install``: the browser comes from the system (``apt-get install chromium``),
and a missing browser or Playwright is a skip, or a failure under ``PODIUM_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.requirements import missing

# Debian's Chromium in a container: no sandbox, GPU or background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A launched headless Chromium browser, closed on exit."""
    executable = shutil.which("chromium")
    if executable is None:
        missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install 'podium[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
