"""The review page: one self-contained HTML file (inline CSS and script, the data as inert JSON), written to
``<output>/index.html``.

Escaping is structural: the data goes into a ``<script type="application/json">`` block with ``<``, ``>``,
``&`` and U+2028/U+2029 escaped, so no prompt, id or server message can close the block or be read as markup;
the page's script builds every node with ``textContent``. A Content-Security-Policy lets only the page's own
script and style run (by hash) and loads nothing from the network.

The page is recorded with the fingerprint of what it is made from (`page_stamp`, `io.stamps`): at the end of a run
that changed none of it, the page is left as it is, without being made.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..campaign import Campaign
from ..errors import UsageError
from ..io import stamps
from ..io.durable import describe
from ..io.unchanged import replace_unless_same
from ..layout import PAGE as PAGE  # re-exported: the review package names its file
from ..layout import page_path
from ..ledger import Ledger, LedgerError, redact
from .data import FORMAT, PageData, campaign_digest

_MARKER = re.compile(r"\{\{(TITLE|CSP|STYLE|SCRIPT|DATA)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class ReviewPageError(UsageError):
    """The page cannot be written (an unreadable ledger, a folder that cannot be written); exit 2."""


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


#: `embed_json`'s escapes as a translation table (the same characters, the same escapes).
_ESCAPE_TABLE = str.maketrans(_JSON_ESCAPES)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def embed_json(value: Any) -> str:
    """``value`` as JSON safe inside a ``<script type="application/json">`` element: nothing in it can end the
    element (``</script>``), start a comment or be taken as a line break by a JavaScript parser."""
    return _ENCODER.encode(value).translate(_ESCAPE_TABLE)


def _iter_data(head: dict[str, Any], jobs: Iterable[Any], tail: Callable[[], dict[str, Any]]) -> Iterator[str]:
    """``{**head, "jobs": [*jobs], **tail()}`` as `embed_json` writes it, a job at a time (escaping works
    character by character, so pieces escape as the whole would)."""
    fields = [f"{embed_json(key)}:{embed_json(value)}" for key, value in head.items()]
    yield "{" + "".join(f"{field}," for field in fields) + '"jobs":['
    first = True
    for job in jobs:
        yield embed_json(job) if first else "," + embed_json(job)
        first = False
    yield "]" + "".join(f",{embed_json(key)}:{embed_json(value)}" for key, value in tail().items()) + "}"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _iter_page(head: dict[str, Any], jobs: Iterable[Any], tail: Callable[[], dict[str, Any]]) -> Iterator[str]:
    """The page's HTML in pieces, the data streamed (see `_iter_data`)."""
    # lineage.js defines what page.js calls: one script element, one hash.
    style, script = _asset("page.css"), _asset("lineage.js") + "\n" + _asset("page.js")
    # Media and images come only from the page's own folder (or, on file://, from the file system);
    # nothing else may be fetched, framed or run.
    csp = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
           "img-src 'self' file: data: blob:; media-src 'self' file: blob:; base-uri 'none'; form-action 'none'")
    values = {
        "TITLE": html.escape(f"{head['campaign']} · review"),
        "CSP": html.escape(csp, quote=False),  # in a double-quoted attribute; a CSP has no double quotes
        "STYLE": style,
        "SCRIPT": script,
    }
    # One pass over the template: text filled in is never searched for markers again.
    template = _asset("page.html")
    at = 0
    for marker in _MARKER.finditer(template):
        yield template[at:marker.start()]
        if marker.group(1) == "DATA":
            yield from _iter_data(head, jobs, tail)
        else:
            yield values[marker.group(1)]
        at = marker.end()
    yield template[at:]


def _split(data: dict[str, Any]) -> tuple[dict[str, Any], Iterable[Any], Callable[[], dict[str, Any]]]:
    """A page data dict as `_iter_page` takes it: the keys before ``jobs``, the jobs, the keys after."""
    keys = list(data)
    cut = keys.index("jobs")
    after = {key: data[key] for key in keys[cut + 1:]}
    return {key: data[key] for key in keys[:cut]}, data["jobs"], lambda: after


def render_page(data: dict[str, Any]) -> str:
    """The page's HTML for `review_page_data` output."""
    return "".join(_iter_page(*_split(data)))


def write_page(output: Path, pieces: Iterable[str]) -> Path:
    """Write the page made of ``pieces`` to ``<output>/index.html`` (a temporary file renamed into place),
    unless it already holds exactly that: a rerun of a finished campaign writes nothing. A link in its place is
    replaced. The page is never held whole (`replace_unless_same`)."""
    path = page_path(output)
    replace_unless_same(path, (piece.encode("utf-8") for piece in pieces), durable=False)
    return path


@cache
def _assets_digest() -> str:
    """The page's template, style and scripts, for its fingerprint (they change with the tool, or a checkout)."""
    names = ("page.html", "page.css", "lineage.js", "page.js")
    return hashlib.sha256("\0".join(_asset(name) for name in names).encode("utf-8")).hexdigest()


def page_stamp(campaign: Campaign, ledger: Ledger) -> str:
    """The fingerprint of what the page of ``campaign`` is made from (`io.stamps`): its format, template, style and
    script; the ledger (which one, and its revision); the campaign as the page shows it (`data.campaign_digest`);
    the sequences' files. The videos and last frames it shows are files a run fetches: a run that fetched any
    makes the page again whatever this says."""
    return stamps.fingerprint("page", FORMAT, _assets_digest(), ledger.identity(), ledger.revision(),
                              campaign_digest(campaign), stamps.sequence_files(campaign.output, campaign.sequences))


def _write_view(campaign: Campaign, ledger: Ledger, reuse: bool) -> Path:
    """Make the page from ``ledger`` (unless ``reuse`` and it is up to date) and record its fingerprint."""

    def write() -> None:
        data = PageData(campaign, ledger)
        write_page(campaign.output, _iter_page(data.head, data.jobs, data.tail))

    stamps.write_view(campaign.output, PAGE, page_stamp(campaign, ledger), write, reuse=reuse)
    return page_path(campaign.output)


def write_review_page(campaign: Campaign, ledger: Ledger | None = None, ledger_url: str | None = None, *,
                      reuse: bool = False) -> Path:
    """Write the review page of ``campaign`` into its output folder; returns its path.

    ``ledger``: an open ledger of the campaign (a run's own); by default its ledger is opened for reading: the
    folder's, or with ``ledger_url`` the shared one (a campaign that never ran shows every job as not
    submitted). The page is made, and recorded with its fingerprint (`page_stamp`); with ``reuse`` (the end of a
    run that fetched no file) a page already made from the same inputs and untouched since is left as it is.
    Raises `ReviewPageError`."""
    where = campaign.output if ledger_url is None else redact(ledger_url)
    try:
        if ledger is None:
            with Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name) as reader:
                owner = reader.meta("campaign")
                if owner is not None and owner != campaign.name:
                    # Its jobs would be matched to this spec's by id: another campaign's videos under these names.
                    raise ReviewPageError(f"{campaign.output} belongs to campaign {owner!r}, not {campaign.name!r}: "
                                       "give --output the folder of this campaign")
                return _write_view(campaign, reader, reuse)
        return _write_view(campaign, ledger, reuse)
    except LedgerError as exc:
        raise ReviewPageError(f"cannot read the ledger in {where}: {exc}") from exc
    except OSError as exc:
        raise ReviewPageError(f"cannot write {page_path(campaign.output)}: {describe(exc)}") from exc
