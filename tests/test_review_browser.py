"""The review page in a real browser: Debian's headless Chromium, driven with Playwright (the system browser;
no browser download). The page is opened from file://, as a user opens it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from engine_helpers import fast_sandbox, load, run_config
from review_helpers import ARGS, CHROMIUM, DEADLINE_MS

from photogpt_batch.cli import cli
from photogpt_batch.review import render_page, write_review_page
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import Faults, SandboxThread

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

# slow: each test drives a browser process (started through Playwright, which test_slow_marker cannot follow).
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: apt-get install chromium "
                                                           "(.ci/run installs it)"), pytest.mark.slow]
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> "quoted" & \'single\''
FAIL_MESSAGE = "generation failed: the model refused <b>this</b>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for these tests (the only ones that use it); each test gets its own context (its own
    storage). Module-scoped, not session-scoped: Playwright's synchronous API keeps an event loop running in
    this thread while it is open, and the tests after these call asyncio.run()."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign run on the sandbox: a 2 models x 2 ratios matrix, a job with a hostile prompt, a failed job."""
    tmp = tmp_path_factory.mktemp("review")
    spec = tmp / "gallery.yaml"
    spec.write_text(f"""version: 1
campaign: gallery
output: {tmp / 'out'}
jobs:
  - id: "look-{{model}}-{{ratio}}"
    prompt: "a lamp, {{ratio}}"
    matrix:
      model: [grok-imagine-1.5, veo-3.1-fast]
      ratio: ["9:16", "16:9"]
    options: {{aspectRatio: "{{ratio}}", duration: 4}}
  - id: hostile
    model: grok-imagine-1.5
    prompt: {json.dumps(HOSTILE)}
  - id: doomed
    model: grok-imagine-1.5
    prompt: this one fails
""", encoding="utf-8")
    # The failing job is the last one submitted (concurrency 1 keeps the order). The run has a thread of its
    # own: Playwright's synchronous API keeps an event loop running in this one.
    # Module-scoped, so the conftest's per-test state folder is not set yet: this run gets its own.
    with SandboxThread(fast_sandbox(faults=Faults(fail_nth=(6,), fail_message=FAIL_MESSAGE))) as sandbox, \
            ThreadPoolExecutor(1) as pool, pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp / "state"))
        summary = pool.submit(run_campaign, load(spec), run_config(sandbox, concurrency=1),
                              install_signal_handlers=False).result()
    assert summary.failed == [("doomed", FAIL_MESSAGE)]
    return tmp


def focused_tile(page: Any) -> str:
    """The id of the tile that has (or holds) the keyboard focus."""
    return str(page.evaluate("document.activeElement.closest('.tile').querySelector('.id').textContent"))


def open_page(page: Any, folder: Path, fragment: str = "") -> None:
    page.goto((folder / "out" / "index.html").as_uri() + fragment)
    page.wait_for_selector(".tile")


def test_every_job_has_a_tile_laid_out_by_model_and_ratio(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    assert page.locator(".tile").count() == 6
    assert page.input_value("#rows") == "model" and page.input_value("#cols") == "ratio"
    assert page.locator(".colhead").all_inner_texts() == ["RATIO\n9:16", "RATIO\n16:9", "RATIO\n—"]
    assert page.locator(".rowhead").count() == 2
    assert "#rows=model&cols=ratio" in page.url


def test_switching_axes_is_kept_in_the_url_and_a_link_shows_the_same_view(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    page.select_option("#cols", "model")
    assert page.input_value("#rows") == ""  # (none): the column axis took the row axis
    assert page.locator(".colhead").count() == 2 and page.locator(".rowhead").count() == 1
    page.select_option("#rows", "ratio")
    url = page.url
    assert "rows=ratio" in url and "cols=model" in url
    second = page.context.new_page()
    second.goto(url)
    second.wait_for_selector(".tile")
    assert (second.input_value("#rows"), second.input_value("#cols")) == ("ratio", "model")
    assert second.locator(".rowhead").all_inner_texts() == page.locator(".rowhead").all_inner_texts()


def test_filtering_an_axis_shows_only_its_jobs(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    page.select_option('select[data-axis="model"]', "veo-3.1-fast")
    # The filtered tiles are laid out on a later frame: on a busy machine their text can still be empty here.
    page.wait_for_function("[...document.querySelectorAll('.tile .id')].every(e => e.innerText)")
    ids = page.locator(".tile .id").all_inner_texts()
    assert sorted(ids) == ["look-veo-3.1-fast-16x9", "look-veo-3.1-fast-9x16"]
    assert "f.model=veo-3.1-fast" in page.url
    page.select_option("#state", "failed")
    assert page.locator(".tile").count() == 0 and page.locator(".empty").count() == 1


def test_a_video_plays_on_focus_and_really_decodes(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    tile = page.locator(".tile", has=page.locator(".id", has_text="look-grok-imagine-1.5-9x16"))
    tile.focus()
    page.wait_for_function(
        """(tile) => { const v = tile.querySelector('video');
                       return v && v.readyState >= 2 && v.currentTime > 0.25 && !v.paused; }""",
        arg=tile.element_handle(), timeout=DEADLINE_MS)
    size = tile.locator("video").evaluate("v => [v.videoWidth, v.videoHeight, v.muted, v.loop, v.preload]")
    assert size == [180, 320, True, True, "metadata"]
    tile.locator("video").click()
    assert tile.locator("video").evaluate("v => v.controls") is True


def test_failed_and_hostile_jobs_show_their_text_as_text(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    hostile = page.locator(".tile", has=page.locator(".id", has_text="hostile"))
    assert hostile.locator(".prompt").text_content() == HOSTILE
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0 and page.locator("b").count() == 0
    doomed = page.locator(".tile", has=page.locator(".id", has_text="doomed"))
    assert doomed.locator(".error").text_content() == "server: " + FAIL_MESSAGE
    assert doomed.locator("video").count() == 0 and "failed" in doomed.locator(".badge").text_content()


def test_credits_per_tile_and_in_total(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir)
    per_tile = [t for t in page.locator(".credits").all_inner_texts() if t.endswith(" credits")]
    total = sum(float(t.split()[0]) for t in per_tile)
    assert total > 0 and f"{total:g} credits" in page.locator("#totals").inner_text()


def test_arrow_keys_move_between_tiles(page: Any, campaign_dir: Path) -> None:
    open_page(page, campaign_dir, "#rows=&cols=")  # the plain grid: tiles in spec order
    page.locator(".tile").first.focus()
    focused = lambda: focused_tile(page)  # noqa: E731
    assert focused() == "look-grok-imagine-1.5-9x16"
    page.keyboard.press("ArrowRight")
    assert focused() == "look-grok-imagine-1.5-16x9"
    page.keyboard.press("End")
    assert focused() == "doomed"
    page.keyboard.press("ArrowLeft")
    assert focused() == "hostile"
    assert page.locator('.tile[tabindex="0"]').count() == 1


def test_arrow_down_moves_to_the_next_row_of_the_matrix_and_enter_shows_controls(page: Any, campaign_dir: Path
                                                                                  ) -> None:
    open_page(page, campaign_dir, "#rows=model&cols=ratio")
    page.locator(".tile").first.focus()
    focused = lambda: focused_tile(page)  # noqa: E731
    assert focused() == "look-grok-imagine-1.5-9x16"
    page.keyboard.press("ArrowDown")
    assert focused() == "look-veo-3.1-fast-9x16"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "VIDEO"
    assert page.evaluate("document.activeElement.controls") is True
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.classList.contains('tile')") is True


def test_picks_are_kept_exported_and_recorded(page: Any, campaign_dir: Path, tmp_path: Path) -> None:
    open_page(page, campaign_dir)
    page.locator(".tile").first.focus()
    page.keyboard.press("p")
    page.locator(".tile", has=page.locator(".id", has_text="hostile")).locator(".pick").click()
    assert page.locator(".tile.picked").count() == 2 and "2 picked" in page.locator("#totals").inner_text()
    page.reload()
    page.wait_for_selector(".tile")
    # kept in the browser (the page marks the picks once it has read them back: waited for, with a deadline)
    sync_api.expect(page.locator(".tile.picked")).to_have_count(2, timeout=10_000)
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename == "gallery-picks.json"
    exported = tmp_path / "picks.json"
    download.value.save_as(exported)
    assert sorted(p["job"] for p in json.loads(exported.read_text())["picks"]) == [
        "hostile", "look-grok-imagine-1.5-9x16"]
    spec = str(campaign_dir / "gallery.yaml")
    result = CliRunner().invoke(cli, ["review", spec, "--picks", str(exported)])
    assert result.exit_code == 0, result.output
    status = json.loads(CliRunner().invoke(cli, ["status", spec, "--json"]).stdout)
    assert sorted(p["job"] for p in status["picks"]["jobs"]) == ["hostile", "look-grok-imagine-1.5-9x16"]
    # Another browser (no picks of its own) opens the rewritten page with the recorded picks.
    other = page.context.browser.new_context()
    try:
        fresh = other.new_page()
        open_page(fresh, campaign_dir)
        assert sorted(fresh.locator(".tile.picked .id").all_inner_texts()) == ["hostile", "look-grok-imagine-1.5-9x16"]
    finally:
        other.close()


def test_a_thousand_videos_load_only_near_the_view(page: Any, campaign_dir: Path, tmp_path: Path) -> None:
    """1,000 tiles: the page comes up, only the tiles near the view have a video (with a src), and
    scrolling moves that window (the first ones let go)."""
    video = campaign_dir / "out" / "look-grok-imagine-1.5-16x9" / "1.mp4"
    (tmp_path / "v").mkdir()
    shutil.copy(video, tmp_path / "v" / "1.mp4")
    jobs = [{"id": f"j{i:04d}", "model": "grok-imagine-1.5", "axes": {"model": "grok-imagine-1.5"},
             "prompt": f"prompt {i}", "options": {"aspectRatio": "16:9"}, "state": "done", "stateLabel": "done",
             "ledgerState": "succeeded", "error": None, "credits": 1,
             "videos": [{"n": 1, "state": "downloaded", "src": "v/1.mp4", "lastFrame": None, "error": None}]}
            for i in range(1000)]
    data = {"format": 1, "campaign": "big", "axes": ["model"], "jobs": jobs, "picks": None,
            "totals": {"jobs": 1000, "videos": 1000, "credits": 1000, "states": {"done": 1000}}}
    (tmp_path / "index.html").write_text(render_page(data), encoding="utf-8")
    page.goto((tmp_path / "index.html").as_uri())
    # How fast 1,000 tiles come up is a figure for a benchmark, not a timed assertion that fails on a busy machine.
    page.wait_for_selector(".tile", timeout=DEADLINE_MS)
    loaded = "() => document.querySelectorAll('video[src]').length"
    page.wait_for_function(f"({loaded})() > 0", timeout=DEADLINE_MS)
    assert page.locator(".tile").count() == 1000
    assert page.evaluate(loaded) < 100
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("""() => { const tiles = document.querySelectorAll('.tile');
        return tiles[tiles.length - 1].querySelector('video[src]') && !tiles[0].querySelector('video'); }""",
                           timeout=DEADLINE_MS)
    assert page.evaluate(loaded) < 100


def test_the_page_works_for_a_campaign_without_a_matrix(page: Any, tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(f"version: 1\ncampaign: plain\noutput: {tmp_path / 'out'}\njobs:\n"
                    "  - {id: a, model: veo-3.1, prompt: one}\n  - {id: b, model: veo-3.1, prompt: two}\n")
    write_review_page(load(spec))
    open_page(page, tmp_path)
    assert page.locator(".tiles .tile").count() == 2 and page.locator(".matrix").count() == 0
    assert page.locator(".placeholder").first.text_content() == "not submitted"


def test_the_docs_screenshot_script_runs(tmp_path: Path) -> None:
    """bench/review_screenshot.py (the command beside the docs' picture) still works."""
    out = tmp_path / "review.png"
    script = Path(__file__).resolve().parent.parent / "bench" / "review_screenshot.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(out), "--chromium", str(CHROMIUM)],
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and out.stat().st_size > 20_000
