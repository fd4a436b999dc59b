"""What the views' tests share (tests/test_views_fresh.py, tests/ledger/test_views_shared.py): counting how often
each view is made, and reading what was written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from photogpt_batch import manifest as manifest_module
from photogpt_batch.review import page as page_module
from photogpt_batch.review.data import PageData


class Made:
    """Counts how often each view is made: the page's data built, the manifest's lines rewritten."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.page = self.manifest = 0
        made = self
        real_rewrite = manifest_module.rewrite

        class CountedPageData(PageData):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                made.page += 1
                super().__init__(*args, **kwargs)

        def counted_rewrite(*args: Any, **kwargs: Any) -> None:
            made.manifest += 1
            real_rewrite(*args, **kwargs)

        monkeypatch.setattr(page_module, "PageData", CountedPageData)
        monkeypatch.setattr(manifest_module, "rewrite", counted_rewrite)

    def reset(self) -> tuple[int, int]:
        """(page, manifest) made since the last reset."""
        counts, self.page, self.manifest = (self.page, self.manifest), 0, 0
        return counts


def files(out: Path) -> dict[str, tuple[int, int, int]]:
    """Each view's (inode, mtime, size): what tells a file written again from the one left alone."""
    return {name: (s.st_ino, s.st_mtime_ns, s.st_size) for name in ("index.html", "manifest.jsonl")
            for s in [(out / name).stat()]}


def page_data(out: Path) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>',
                      (out / "index.html").read_text(encoding="utf-8"), re.S)
    assert match is not None
    return json.loads(match.group(1))
