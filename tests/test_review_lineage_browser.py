"""Lineage on the review page in a real browser (Debian's headless Chromium through Playwright, as in
test_review_browser.py): a final's "from draft-2" link brings the draft's tile into view, focused and marked; the
final that waits for a pick says so; the sequence's tile plays the joined file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import fast_sandbox, load, run_config
from review_helpers import ARGS, CHROMIUM, DEADLINE_MS, pipeline_spec, with_needs

from photogpt_batch.review import write_review_page
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: apt-get install chromium"),
              pytest.mark.slow]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 700}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
    assert errors == [], errors


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    """The pipeline run on the sandbox but for final-3 (its draft is not picked), its page written with needs."""
    spec = pipeline_spec(tmp_path)
    ran = load(spec)
    ran.jobs = [job for job in ran.jobs if job.id != "final-3"]
    # The run has a thread of its own: Playwright's synchronous API keeps an event loop running in this one.
    with SandboxThread(fast_sandbox()) as sandbox, ThreadPoolExecutor(1) as pool:
        summary = pool.submit(run_campaign, ran, run_config(sandbox), install_signal_handlers=False).result()
    assert summary.complete
    return write_review_page(with_needs(load(spec)))


def tile(page: Any, job: str) -> Any:
    return page.locator("#grid .tile", has=page.locator(".id", has_text=job))


def test_a_finals_link_leads_to_its_draft_and_the_sequence_plays(page: Any, pipeline: Path) -> None:
    # A small window: the draft's tile starts out of view, and the link must bring it in. (Tiles out of view are
    # not rendered, content-visibility: auto: their text is read with text_content, not inner_text.)
    page.set_viewport_size({"width": 700, "height": 500})
    page.goto(pipeline.as_uri() + "#rows=&cols=")
    page.wait_for_selector(".tile")
    assert page.locator("#grid .tile .id").all_text_contents() == [
        "draft-1", "draft-2", "draft-3", "final-1", "final-2", "final-3", "shot-1", "shot-2", "shot-3"]
    assert tile(page, "shot-2").locator(".chain").text_content().startswith("shot 2 of 3")
    assert tile(page, "final-3").locator(".gate").text_content() == "waiting for draft-3 to be picked"
    assert tile(page, "final-2").locator(".gate").count() == 0  # it was sent
    assert tile(page, "draft-2").locator(".followers").text_content() == "final: final-2"

    final = tile(page, "final-2")
    final.scroll_into_view_if_needed()
    draft = tile(page, "draft-2")
    in_view = "t => { const r = t.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }"
    assert not draft.evaluate(in_view)
    final.get_by_role("button", name="from draft-2: go to the tile of draft-2").click()
    page.wait_for_function(
        """(t) => { const r = t.getBoundingClientRect();
                    return t.classList.contains('target') && r.bottom > 0 && r.top < innerHeight; }""",
        arg=draft.element_handle(), timeout=DEADLINE_MS)
    assert page.evaluate("document.activeElement.querySelector('.id').textContent") == "draft-2"
    assert "#rows=&cols=" in page.url  # the view in the address is untouched

    # Picking draft-3 in the page says what is left to do: the run reads only recorded picks.
    tile(page, "draft-3").locator(".pick").click()
    assert "record them with review --picks" in tile(page, "final-3").locator(".gate").text_content()

    sequence = page.locator("#sequences .tile.sequence")
    assert sequence.locator(".id").text_content() == "sequence story"
    assert sequence.locator(".clips li").all_text_contents() == ["shot-1", "shot-2", "shot-3"]
    assert sequence.locator("video").evaluate("v => v.getAttribute('src')") == "sequences/story.mp4"
    sequence.focus()
    page.wait_for_function(
        "(t) => { const v = t.querySelector('video'); return v.readyState >= 2 && v.currentTime > 0.25 && !v.paused; }",
        arg=sequence.element_handle(), timeout=DEADLINE_MS)
    # A clip's link leads to its tile too.
    sequence.get_by_role("button", name="shot-3: go to the tile of shot-3").click()
    page.wait_for_function("() => document.activeElement.querySelector('.id').textContent === 'shot-3'",
                           timeout=DEADLINE_MS)
