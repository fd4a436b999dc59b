"""Regenerate the review page's screenshot in the docs: the demo campaign, run on the sandbox, in headless Chromium.

    python bench/review_screenshot.py                      # writes docs/images/review.png
    python bench/review_screenshot.py --out /tmp/review.png --chromium /usr/bin/chromium

It runs ``specs/demo.yaml`` on the in-process sandbox into a temporary folder (nothing is paid; no key), opens
the ``index.html`` that the run writes from ``file://`` with Debian's Chromium driven by Playwright, picks one
tile, stops every video at the same moment (so the picture does not depend on timing) and saves a screenshot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from photogpt_batch.engine.progress import Progress
from photogpt_batch.runner import RunConfig, run_campaign
from photogpt_batch.spec.load import load_campaign

REPO = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
#: Every video shows this moment (seconds), once it can: the same picture on every run.
STILL_AT = 0.6


def main() -> None:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "review.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="review-shot-") as tmp:
        campaign = load_campaign(REPO / "specs" / "demo.yaml")
        campaign.output = Path(tmp) / "demo"
        # A throwaway rehearsal: started fresh even if the demo ran elsewhere, and kept out of this machine's
        # index of campaigns (which would otherwise point at a folder about to be deleted).
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        summary = run_campaign(campaign, RunConfig(sandbox=True, fresh=True), Progress(0, quiet=True))
        if not summary.complete:
            raise SystemExit(f"the demo campaign did not complete: {summary}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 1200}, device_scale_factor=1)
            page.goto((campaign.output / "index.html").as_uri())
            page.wait_for_selector(".tile")
            page.locator(".tile", has=page.locator(".id", has_text="social-9x16")).locator(".pick").click()
            page.wait_for_function("() => Array.from(document.querySelectorAll('video'))"
                                   ".every(v => v.readyState >= 2)", timeout=20_000)
            page.locator(".tile").first.focus()  # a focused tile plays: focus first, then stop every video
            page.evaluate(f"""() => Promise.all(Array.from(document.querySelectorAll('video')).map(v =>
                new Promise(done => {{ v.pause(); v.addEventListener('seeked', done, {{once: true}});
                                       v.currentTime = {STILL_AT}; }})))""")
            page.evaluate("() => window.scrollTo(0, 0)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
