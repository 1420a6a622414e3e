"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright
for Python over its own CDP connection; no browser is downloaded).

Skipped, saying why, when Chromium or Playwright is missing (Debian: apt-get install -y
chromium; pip install playwright). What a person would do: log in through the printed
token URL, generate from the form and watch the job turn succeeded without a reload, open
its preview, filter the history, save a broken preset and see the error at its line.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.serve_support import ServeProcess, wait_for_status, write_project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"
)
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip

PROJECT = {
    "mediamix.yaml": "storage: {url: file://outputs}\nconcurrency: 4\n",
    "presets/notes.yaml": "media_type: text\nmodels:\n  - {provider: local, model: template}\n",
    "presets/cover.yaml": (
        "media_type: image\npriority: 50\nmodels:\n"
        "  - {provider: local, model: card, params: {width: 640, height: 360}}\n"
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = write_project(tmp_path_factory.mktemp("dash") / "p", PROJECT)
    with ServeProcess(root, env={"MEDIAMIX_STATE_DIR": str(root.parent / "state")}) as server:
        yield server
    assert "Traceback" not in server.stderr, server.stderr


@pytest.fixture
def page(served: ServeProcess) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 800})
            tab = context.new_page()
            problems: list[str] = []
            # A 400 the page shows the user (a broken preset) is logged by Chromium as a
            # failed load; that is the form working, not a page error.
            tab.on(
                "console",
                lambda m: (
                    problems.append(m.text)
                    if m.type == "error" and "status of 400" not in m.text
                    else None
                ),
            )
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.problems = problems
            yield tab
            assert problems == [], problems
        finally:
            browser.close()


def wait_until(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression with CDP evaluation: the page's CSP (no eval) stays on,
    and Playwright's wait_for_function would need eval."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


def log_in(page: Any, served: ServeProcess) -> None:
    page.goto(f"{served.base}/?token={served.token}")
    page.wait_for_selector("form[aria-label=Generate]")
    assert page.url == f"{served.base}/"  # the token is gone from the address bar
    cookie = next(c for c in page.context.cookies() if c["name"] == "mediamix_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_generate_from_the_form_and_watch_it_succeed_live(page: Any, served: ServeProcess) -> None:
    log_in(page, served)
    page.evaluate("window.__sameDocument = true")
    page.select_option("select[name=mediaType]", "image")
    page.fill("textarea[name=prompt]", "a lighthouse at dawn")
    page.select_option("select[name=preset]", "cover")
    page.fill("input[name=maxAttempts]", "2")
    page.get_by_role("button", name="Generate").click()
    first = page.locator("tbody tr").first
    first.locator(".badge").wait_for()
    job_id = first.get_attribute("data-job-id")
    assert job_id
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.locator(".badge.succeeded").wait_for(timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True  # updated without a reload
    assert "local/card" in row.inner_text()
    assert page.locator("#live").inner_text() == "live"

    row.get_by_role("link").click()
    page.wait_for_selector("#preview img")
    wait_until(page, "document.querySelector('#preview img').naturalWidth === 640")
    timeline = page.get_by_role("list", name="Attempt timeline").inner_text()
    assert "attempt 1: local/card" in timeline and "succeeded" in timeline
    assert page.get_by_role("link", name="Download generate.png").is_visible()


def test_filter_the_history(page: Any, served: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=30) as api:
        for body in ({"mediaType": "text", "prompt": "owls", "preset": "notes"},
                     {"mediaType": "image", "prompt": "moths", "preset": "cover"}):  # fmt: skip
            wait_for_status(api, api.post("/api/media/generate", json=body).json()["jobId"],
                            {"succeeded"})  # fmt: skip
    log_in(page, served)
    page.get_by_role("link", name="Jobs").click()
    page.wait_for_selector("form[aria-label='Filter jobs']")
    page.get_by_label("Media type").select_option("text")
    page.get_by_role("button", name="Filter").click()
    wait_until(page, "location.hash === '#/jobs?mediaType=text'")
    wait_until(
        page,
        "[...document.querySelectorAll('tbody tr[data-job-id]')].length > 0 && "
        "[...document.querySelectorAll('tbody tr[data-job-id] td:nth-child(3)')]"
        ".every(td => td.textContent === 'text')",
    )
    media = page.locator("tbody tr[data-job-id] td:nth-child(3)").all_inner_texts()
    assert media and set(media) == {"text"}


def test_a_broken_preset_shows_its_error_at_the_line(page: Any, served: ServeProcess) -> None:
    log_in(page, served)
    page.goto(f"{served.base}/#/presets/new")
    page.get_by_label("Name").fill("wide")
    broken = "media_type: image\nmodels:\n  - provider: local\n    model: crad\n"
    page.get_by_label("Preset YAML").fill(broken)
    page.get_by_role("button", name="Create preset").click()
    problem = page.locator("#preset-problems li").first
    problem.wait_for()
    assert problem.get_attribute("data-line") == "4"
    assert "line 4" in problem.inner_text() and "crad" in problem.inner_text()
    assert page.locator(".gutter span.bad").all_inner_texts() == ["4"]
    assert not (served.project / "presets" / "wide.yaml").exists()
    problem.get_by_role("link").click()  # puts the cursor on the line
    assert page.evaluate("document.activeElement.name") == "yaml"

    page.get_by_label("Preset YAML").fill(broken.replace("crad", "card"))
    page.get_by_role("button", name="Create preset").click()
    wait_until(page, "location.hash === '#/presets/wide'")
    assert (served.project / "presets" / "wide.yaml").read_text().endswith("model: card\n")


def test_screens_fit_a_laptop_and_controls_are_labelled(page: Any, served: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=30) as api:
        body = {"mediaType": "text", "prompt": "for the charts", "preset": "notes"}
        wait_for_status(api, api.post("/api/media/generate", json=body).json()["jobId"],
                        {"succeeded"})  # fmt: skip
    log_in(page, served)
    for view in ("#/", "#/jobs", "#/accounts", "#/presets", "#/stats"):
        page.goto(f"{served.base}/{view}")
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, (view, width)
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('main input, main select, main textarea')]
               .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
               .map(el => el.name)"""
        )
        assert unlabelled == [], (view, unlabelled)
        if view == "#/stats":  # the report's two charts, drawn in the page
            assert page.locator("main .charts svg polyline, main .charts svg circle").count()
            assert page.locator("main .charts svg").count() == 2
    # Keyboard only: Tab from the top reaches the navigation, Enter follows it.
    page.goto(f"{served.base}/#/")
    page.wait_for_selector("main h1")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Jobs"
    page.keyboard.press("Enter")
    page.wait_for_selector("form[aria-label='Filter jobs']")
