"""Debian's Chromium driven by Playwright, for the console's tests (never `playwright install`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--autoplay-policy=no-user-gesture-required"]
SERIOUS = ("serious", "critical")
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@contextmanager
def chromium(extra_flags: tuple[str, ...] = ()) -> Iterator[Any]:
    """A headless Chromium for the block's duration."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *extra_flags],
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


class PageErrors:
    """Every JavaScript error and console error a page logs (a CSP refusal included). An API answer
    the test provokes on purpose (a wrong password's 403) is allowed with `allow(403)`."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        self.allowed: set[int] = set()
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))
        page.on("console", self._console)

    def allow(self, status: int) -> None:
        """Expect the page to receive this HTTP status (and log it) at least once."""
        self.allowed.add(status)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        status = FAILED_LOAD.search(message.text)
        if status is None or int(status.group(1)) not in self.allowed:
            self.messages.append(f"console: {message.text}")


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in SERIOUS]


def log_in(page: Any, username: str, password: str) -> None:
    """Fill in the console's login form and wait for the menu."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.locator("header nav").wait_for(timeout=10_000)


def tab_to(page: Any, selector: str | None = None, text: str | None = None, limit: int = 120) -> None:
    """Press Tab until the focused element matches selector (and shows text); fail after limit presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("([selector, text]) => { const e = document.activeElement;"
                         " return !!e && (!selector || e.matches(selector))"
                         " && (!text || e.textContent.trim() === text); }", [selector, text]):
            return
    raise AssertionError(f"the keyboard never reached {selector or ''} {text or ''}")


def keyboard_log_in(page: Any, username: str, password: str) -> None:
    """Log in with the keyboard alone: the user name field has the focus when the form shows."""
    page.locator("input[name=username]").wait_for()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.locator("header nav").wait_for(timeout=10_000)


class NetworkLog:
    """The requests a page makes, as Chromium's network layer reports them (through a CDP session
    on the page), and which of them its cache answered without asking the server."""

    def __init__(self, context: Any, page: Any) -> None:
        self.cdp = context.new_cdp_session(page)
        self.requests: dict[str, str] = {}
        self.order: list[tuple[str, str]] = []  # ("sent" or "answered", URL), as they happened
        self.cached: set[str] = set()
        self.bytes = 0
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.requestServedFromCache", lambda event: self.cached.add(event["requestId"]))
        self.cdp.on("Network.responseReceived", self._received)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self.requests[event["requestId"]] = event["request"]["url"]
        self.order.append(("sent", event["request"]["url"]))

    def _received(self, event: dict[str, Any]) -> None:
        self.order.append(("answered", event["response"]["url"]))
        if event["response"].get("fromDiskCache"):
            self.cached.add(event["requestId"])

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))

    def reset(self) -> None:
        """Forget what was logged so far."""
        self.requests.clear()
        self.order.clear()
        self.cached.clear()
        self.bytes = 0

    def to_server(self) -> list[str]:
        """The URLs (http ones) of the requests that reached the server, sorted."""
        return sorted(url for rid, url in self.requests.items() if rid not in self.cached
                      and url.startswith("http"))


def fact(page: Any, term: str) -> str:
    """The value a page's facts list (`dl.facts`: the field view's, the device page's) shows for term."""
    text: str = page.locator(f"dl.facts dt:text-is('{term}') + dd").inner_text()
    return text
