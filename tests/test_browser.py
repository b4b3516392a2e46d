"""The HTML report in a real browser: Debian's headless Chromium, driven by chromedriver (WebDriver).

The demo incident's report is rendered to a file and opened from a ``file://`` URL with the flags that
work offline and in containers. Console errors come from WebDriver's browser log (``goog:loggingPrefs``):
it has every ``console.error``, uncaught exception, Content-Security-Policy refusal and failed load, as
structured entries with a level, rather than Chromium's free-form ``--enable-logging=stderr`` text. The
graph is checked in the rendered DOM (``find_elements``), not in the HTML source.

Without chromium and chromedriver the test is skipped with the reason and the install command — except
under CI (``CI`` set to a true value), where a missing browser fails: ``.ci/run`` installs it. Set
``BLASTRADIUS_ALLOW_NO_BROWSER=1`` to skip deliberately on a CI that cannot install packages.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_render_graph import HOSTILE, hostile_report

from blastradius.render import render
from blastradius.report import Report

INSTALL = "apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why they cannot be used."""
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing or browser is None or driver is None:
        return f"{' and '.join(missing)} not found; install with: {INSTALL}"
    return browser, driver


def _start_chrome(browser: str, driver_path: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[Any, Report]]:
    """A headless Chromium session (browser log recorded) and the demo incident's report.

    Skipped with the reason when chromium or chromedriver is missing, failed instead under CI. The
    browser starts in a thread while the demo account is built, which takes about as long.
    """
    found = _browser()
    if isinstance(found, str):
        reason = f"headless-browser test of the HTML report NOT RUN: {found}"
        if _truthy("CI") and not _truthy("BLASTRADIUS_ALLOW_NO_BROWSER"):
            pytest.fail(reason + " (CI=true requires it; BLASTRADIUS_ALLOW_NO_BROWSER=1 skips deliberately)")
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    from blastradius.demo import run_demo

    # Both paths are given, so Selenium Manager has nothing to download; SE_OFFLINE makes sure of it.
    os.environ.setdefault("SE_OFFLINE", "true")
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(_start_chrome, *found)
        try:
            report = run_demo()
        finally:
            driver = starting.result()
    try:
        yield driver, report
    finally:
        driver.quit()


def _open(driver: Any, page: Path) -> list[dict[str, Any]]:
    """Load ``page`` and return the browser-log entries it produced (warnings and errors)."""
    driver.get_log("browser")  # drop whatever an earlier page left
    driver.get(page.as_uri())
    driver.execute_script("return document.readyState")  # the load has completed when this returns
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return [e for e in entries if e.get("level") in ("SEVERE", "WARNING")]


def test_demo_report_opens_without_errors_and_its_graph_shows_every_dataset(
    session: tuple[Any, Report], tmp_path: Path
) -> None:
    """One browser session for both pages: under ``pytest -n 2`` a second test could start a second one."""
    from selenium.webdriver.common.by import By

    chrome, demo_report = session
    started = time.monotonic()
    page = tmp_path / "demo.html"
    page.write_text(render(demo_report, "html"), encoding="utf-8")
    assert _open(chrome, page) == []
    assert chrome.title == f"blastradius: {demo_report.key.access_key_id}"

    nodes = chrome.find_elements(By.CSS_SELECTOR, "svg.attack-graph g.node.dataset")
    shown = {n.get_attribute("data-arn"): n for n in nodes}
    assert set(shown) == {d.arn for d in demo_report.datasets} and demo_report.datasets
    for finding in demo_report.datasets:
        node = shown[finding.arn]
        assert node.is_displayed(), finding.name
        assert finding.name in node.text, (finding.name, node.text)
        # Laid out by the browser: a real box.
        box = chrome.execute_script("var b = arguments[0].getBBox(); return [b.width, b.height];", node)
        assert box[0] > 0 and box[1] > 0, finding.name
    edges = chrome.find_elements(By.CSS_SELECTOR, "svg.attack-graph g.edge")
    drawn = {(e.get_attribute("data-from"), e.get_attribute("data-to")) for e in edges}
    for finding in demo_report.datasets:
        for step in finding.path:
            assert (step.from_, step.to) in drawn, step
    # The page's one script ran under its Content-Security-Policy hash: the copy buttons are shown.
    buttons = chrome.find_elements(By.CSS_SELECTOR, "button.copy")
    assert buttons and all(b.is_displayed() for b in buttons)

    # Negative control: a script the page did not ship is refused, and the refusal is in the log; a
    # hostile dataset name stays text in the DOM.
    tampered = tmp_path / "tampered.html"
    text = render(hostile_report(), "html")
    tampered.write_text(text.replace("</body>", "<script>document.title = 'pwned'</script></body>"), "utf-8")
    errors = _open(chrome, tampered)
    assert chrome.title != "pwned"
    assert any("Content Security Policy" in e["message"] for e in errors), errors
    assert len(chrome.find_elements(By.TAG_NAME, "script")) == 2  # the page's own and the tampering
    names = {n.get_attribute("data-name") for n in chrome.find_elements(By.CSS_SELECTOR, "g.node.dataset")}
    assert HOSTILE in names
    assert time.monotonic() - started < 15
