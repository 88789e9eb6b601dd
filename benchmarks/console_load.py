"""The console on a slow link: the dashboard's first load and its reload in a real browser.

Starts the project's own Mosquitto, Redis and controller, and registers a few clusters in a
village. For each run, a fresh headless Chromium context (empty cache) logs in through the API
(the session cookie, so that no console file is fetched before the measurement), then Chromium's
network emulation (CDP `Network.emulateNetworkConditions`) throttles the link to a rural 4G one:
1.6 Mbit/s down, 750 kbit/s up, 150 ms latency. The dashboard is opened (first load), then
reloaded (reload). Each load is timed from the navigation's start until the dashboard shows its
data: the counts, the map and what comes next drawn, and the feed's first line (drawn last).

Reported per load: the median and slowest time over the runs, and for one run the requests the
browser made, how many of them reached the server (the others came from its cache) and the bytes
that crossed the link.

    .venv/bin/python -m benchmarks.console_load --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.stack import PASSWORD, live_stack, machine
from tests.browser import NetworkLog

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
LINK = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
        "uploadThroughput": 750_000 / 8}
CLUSTERS = 3
SHOWN_TIMEOUT_MS = 60_000
# Notes, as the page draws, when the dashboard's data is on screen (the feed's first line comes last).
MARK_SHOWN = """
new MutationObserver((_, observer) => {
  if (document.querySelector(".count.online strong") && document.querySelector(".feed li")) {
    window.loalangShownMs = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the block's duration."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def traffic(network: NetworkLog) -> dict[str, Any]:
    """Requests made, those that reached the server (their paths) and the bytes that crossed the link."""
    served = [url.split("/", 3)[-1] for url in network.to_server()]
    return {"requests": len(network.requests), "to_server": len(served),
            "kbytes": round(network.bytes / 1000, 1), "server_paths": served}


def shown_ms(page: Any) -> float:
    """Wait until the dashboard shows its data; the time from the navigation's start."""
    page.locator(".feed li").first.wait_for(timeout=SHOWN_TIMEOUT_MS)
    page.locator(".count.online strong").wait_for(timeout=SHOWN_TIMEOUT_MS)
    return float(page.evaluate("() => window.loalangShownMs"))


def one_run(browser: Any, url: str) -> dict[str, Any]:
    """Log in (API), throttle the link, open the dashboard, then reload it: the two times and traffic."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        answer = context.request.post(f"{url}/api/v1/auth/session",
                                      data={"username": "admin", "password": PASSWORD})
        assert answer.ok, answer.text()
        context.add_init_script(MARK_SHOWN)
        page = context.new_page()
        network = NetworkLog(context, page)
        network.cdp.send("Network.emulateNetworkConditions", LINK)
        page.goto(f"{url}/console/")
        first = {"ms": shown_ms(page), **traffic(network)}
        network.reset()
        page.reload()
        reload = {"ms": shown_ms(page), **traffic(network)}
        return {"first_load": first, "reload": reload}
    finally:
        context.close()


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and slowest time of each load over the runs, and the last run's traffic."""
    result: dict[str, Any] = {}
    for load in ("first_load", "reload"):
        times = [run[load]["ms"] for run in runs]
        result[load] = {"median_ms": round(statistics.median(times)), "max_ms": round(max(times)),
                        **{k: v for k, v in runs[-1][load].items() if k != "ms"}}
    return result


def main() -> None:
    """Run the measurement and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5,
                        help="fresh browser contexts (each a first load and a reload)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loalang-console-load-"))
    with live_stack(root) as stack:
        stack.fleet.ensure_areas()
        for _ in range(CLUSTERS):
            stack.fleet.register(area="thon-a")
        with chromium() as browser:
            runs = [one_run(browser, stack.controller.url) for _ in range(args.runs)]
    result = {"link": LINK, "runs": args.runs, **figures(runs), "machine": machine()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
