"""Take the dashboard screenshots in docs/: ``python -m tests.serve_screenshots docs/img``.

A throwaway project with a few offline jobs (and one that fails), the real server, and
Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.serve_support import ServeProcess, wait_for_status, write_project
from tests.test_serve_dashboard import CHROMIUM_ARGS

PROJECT = {
    "mediamix.yaml": "storage: {url: file://outputs}\nconcurrency: 4\n",
    "presets/notes.yaml": "media_type: text\nmodels:\n  - {provider: local, model: template}\n",
    "presets/cover.yaml": "media_type: image\nmodels:\n"
    "  - {provider: openai, model: dall-e-3}\n  - {provider: local, model: card}\n",
    "presets/handout.yaml": "media_type: document\nmodels:\n  - {provider: local, model: pdf}\n",
    "presets/gpt-only.yaml": "media_type: text\nmodels:\n  - {provider: openai, model: gpt-4o}\n",
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_project(Path(tmp) / "p", PROJECT)
        with ServeProcess(root, env={"MEDIAMIX_STATE_DIR": tmp}) as server:
            with httpx.Client(
                base_url=server.base,
                timeout=60,
                headers={"Authorization": f"Bearer {server.token}"},
            ) as api:
                jobs = [
                    {"mediaType": "image", "prompt": "A lighthouse at dawn", "preset": "cover"},
                    {"mediaType": "text", "prompt": "Three facts about owls", "preset": "notes"},
                    {"mediaType": "document", "prompt": "Field guide\n\nOwls hunt at night.",
                     "preset": "handout"},
                    {"mediaType": "text", "prompt": "needs a key", "preset": "gpt-only"},
                    {"mediaType": "image", "prompt": "Moths around a lamp", "preset": "cover"},
                ]  # fmt: skip
                ids = [api.post("/api/media/generate", json=j).json()["jobId"] for j in jobs]
                for job_id in ids:
                    wait_for_status(api, job_id, {"succeeded", "failed"})
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1366, "height": 800})
                page.goto(f"{server.base}/?token={server.token}")
                page.wait_for_selector("form[aria-label=Generate]")
                page.fill("textarea[name=prompt]", "A red bicycle, flat illustration")
                time.sleep(0.5)
                page.screenshot(path=str(out / "dashboard-generate.png"))
                shots = {
                    "dashboard-job.png": f"#/jobs/{ids[0]}",
                    "dashboard-jobs.png": "#/jobs",
                    "dashboard-accounts.png": "#/accounts",
                    "dashboard-stats.png": "#/stats?by=provider",
                }
                for name, view in shots.items():
                    page.goto(f"{server.base}/{view}")
                    page.wait_for_selector("main h1")
                    time.sleep(1.0)
                    page.screenshot(path=str(out / name))
                page.goto(f"{server.base}/#/presets/new")
                page.get_by_label("Name").fill("wide")
                page.get_by_label("Preset YAML").fill(
                    "media_type: image\nmodels:\n  - provider: local\n    model: crad\n"
                )
                page.get_by_role("button", name="Create preset").click()
                page.wait_for_selector("#preset-problems li")
                page.screenshot(path=str(out / "dashboard-preset-error.png"))
                browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
