"""The example's page in a real headless browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from app_helpers import bind_loopback, example_app, serve
from playwright.async_api import BrowserContext, Route, async_playwright, expect

from videoagent import AsyncVideoAgent
from videoagent.simulator import Simulator

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium as root, headless, talking to nobody but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Real milliseconds the page gets for each step (the whole run takes a few seconds).
STEP_MS = 30_000
#: A quick lifecycle: queued long enough for the page to subscribe before it moves on.
DURATIONS = {
    "queued": (100.0, 100.0),
    "running": (30.0, 30.0),
    "generating": (30.0, 30.0),
    "rendering": (30.0, 30.0),
}


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; skipped where it is missing, except in CI (VIDEOAGENT_REQUIRE_SYSTEM)."""
    if not CHROMIUM.exists():
        if os.environ.get("VIDEOAGENT_REQUIRE_SYSTEM"):
            pytest.fail(f"{CHROMIUM} is missing: run .ci/install-system.sh")
        pytest.skip(f"{CHROMIUM} is missing (.ci/install-system.sh installs it)")
    return CHROMIUM


@pytest.fixture
async def browser(
    chromium: Path, tmp_path: Path
) -> AsyncIterator[tuple[BrowserContext, list[str]]]:
    """A fresh headless chromium profile, and the list of non-loopback URLs it tried."""
    outside: list[str] = []

    async def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            accept_downloads=True,
        )
        try:
            await context.route("**/*", loopback_only)
            yield context, outside
        finally:
            await context.close()


async def test_page_creates_follows_answers_and_downloads(
    browser: tuple[BrowserContext, list[str]], tmp_path: Path
) -> None:
    """In the browser: an empty list says so; a brief is submitted, its progress shows live,
    the list tells it waits for an answer, the decision is answered, the list tells it is
    finished, and the final video link downloads the verified video."""
    context, outside = browser
    async with Simulator(
        time_scale=0.01, seed=7, durations=DURATIONS, decision_points=(1, 1)
    ) as sim:
        sock, url = bind_loopback()
        async with serve(example_app(sim, url), sock):
            page = await context.new_page()
            await page.goto(url)
            await page.evaluate("window.sameDocument = true")
            empty = page.locator("#no-projects")
            await expect(empty).to_contain_text("No videos yet", timeout=STEP_MS)
            await expect(empty).to_be_visible()
            await page.fill("#brief", "a 20 s teaser for a bakery")
            await page.select_option("#mode", "collaborative")
            await page.click("#create")

            decision = page.locator("#decision-form")
            await expect(decision).to_be_visible(timeout=STEP_MS)
            await expect(page.locator("#question")).to_contain_text("Decision point 1")
            steps = page.locator("#timeline li")
            assert await steps.all_inner_texts() == ["queued", "running", "idle"]
            project_id = await page.inner_text("#project-id")
            assert project_id.startswith("prj_")
            listed = page.locator(f'#projects li[data-id="{project_id}"] .status')
            await expect(listed).to_have_text("waiting for your answer", timeout=STEP_MS)
            await expect(empty).to_be_hidden()

            await page.fill("#feedback", "Go ahead, with warmer colours.")
            await page.click("#send")
            video = page.locator("#video")
            await expect(video).to_be_visible(timeout=STEP_MS)
            assert await steps.all_inner_texts() == [
                "queued", "running", "idle", "queued", "running", "generating", "rendering", "idle",
            ]  # fmt: skip
            await expect(page.locator("#status")).to_have_text("idle")
            assert await page.eval_on_selector("#progress", "el => el.value") == 1
            await expect(page.locator("#messages p.user")).to_contain_text("warmer colours")
            await expect(page.locator("#messages p.agent").last).to_contain_text("Done")
            await expect(listed).to_have_text("finished", timeout=STEP_MS)
            assert await page.evaluate("window.sameDocument") is True  # live, no reload

            async with page.expect_download(timeout=STEP_MS) as started:
                await video.click()
            download = await started.value
            saved = tmp_path / "video.mp4"
            await download.save_as(saved)
            await page.close()

        async with AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale) as client:
            result = await client.projects.result(project_id)
    data = saved.read_bytes()
    assert len(data) == result.size_bytes
    assert hashlib.sha256(data).hexdigest() == result.sha256
    assert outside == []
