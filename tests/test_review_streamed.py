"""The review page is written as it is built, a job at a time, and compared with the page on disk the same way:
neither the page, nor its data as JSON, nor the page already there is ever held whole (at 20,000 jobs these
copies were the peak of a run)."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import pytest

from photogpt_batch.ledger import Ledger
from photogpt_batch.review import render_page, review_page_data, write_review_page
from photogpt_batch.spec.load import load_campaign

HOSTILE = '</script><!-- "q" & \u2028\u2029 é'


def _spec(tmp_path: Path, jobs: int, prompt: str) -> Path:
    spec = tmp_path / "big.yaml"
    spec.write_text(f"""version: 1
campaign: big
output: {tmp_path / 'out'}
jobs:
  - id: "j-{{n}}"
    model: grok-imagine-1.5
    prompt: {json.dumps(prompt + " {n}")}
    matrix:
      n: {json.dumps(list(range(jobs)))}
""", encoding="utf-8")
    return spec


def _expected(tmp_path: Path, spec: Path) -> str:
    campaign = load_campaign(spec)
    with Ledger.open_for_reading(campaign.output, campaign=campaign.name) as ledger:
        return render_page(review_page_data(campaign, ledger))


def _peak_writing(spec: Path) -> int:
    campaign = load_campaign(spec)
    tracemalloc.start()
    try:
        write_review_page(campaign)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_page_is_never_held_whole_when_written_or_compared(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 200, "x" * 20_000)
    page = tmp_path / "out" / "index.html"
    fresh = _peak_writing(spec)
    size = page.stat().st_size
    assert size > 4_000_000
    written = page.stat().st_mtime_ns
    again = _peak_writing(spec)
    assert page.stat().st_mtime_ns == written  # the same page: not written again
    # The jobs' prompts are the spec's own strings; only a job's piece of the page is made at a time.
    assert fresh < size / 4 and again < size / 4, (fresh, again, size)


def test_a_streamed_page_is_the_page_with_its_escaping(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 30, HOSTILE)
    campaign = load_campaign(spec)
    page = write_review_page(campaign)
    text = page.read_text(encoding="utf-8")
    assert text == _expected(tmp_path, spec)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    assert data["jobs"][3]["prompt"] == HOSTILE + " 3" and data["totals"]["jobs"] == 30
    assert "</script><!--" not in text.split('id="page-data">', 1)[1].split("</script>", 1)[0]


def test_a_page_that_differs_anywhere_is_replaced_whole(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 30, "a prompt")
    page = write_review_page(load_campaign(spec))
    right = page.read_bytes()
    for wrong in (right[: len(right) // 2] + b"X" + right[len(right) // 2 + 1:],  # a difference in the middle
                  right[:-10],  # cut short
                  right + b"more",  # longer
                  b""):
        page.write_bytes(wrong)
        write_review_page(load_campaign(spec))
        assert page.read_bytes() == right
    link = tmp_path / "elsewhere.html"
    link.write_bytes(right)
    page.unlink()
    page.symlink_to(link)
    write_review_page(load_campaign(spec))
    assert not page.is_symlink() and page.read_bytes() == right
    assert not list(page.parent.glob("*.tmp*"))


def test_the_pages_jobs_are_read_a_chunk_at_a_time_never_all_at_once(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from photogpt_batch.ledger import JobState, JobTransition, paged

    spec = _spec(tmp_path, 7, "a cat")
    campaign = load_campaign(spec)
    with Ledger.open_for_run(campaign.output) as ledger:
        rows = ledger.register(campaign.jobs[::-1])  # the ledger's order is not the spec's
        ledger._write_now(JobTransition(rows["j-2"], JobState.SUBMITTING))
        whole = render_page(review_page_data(campaign, ledger))

        def refused(*args: object) -> None:
            raise AssertionError("the page read every record at once")

        monkeypatch.setattr(paged, "CHUNK", 3)
        monkeypatch.setattr(ledger, "jobs", refused)
        monkeypatch.setattr(ledger, "reconcile", refused)
        assert render_page(review_page_data(campaign, ledger)) == whole
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', whole, re.S)
    assert found is not None
    data = json.loads(found.group(1))
    assert [job["id"] for job in data["jobs"]] == [f"j-{n}" for n in range(7)]
    assert data["jobs"][2]["ledgerState"] == "submitting"
