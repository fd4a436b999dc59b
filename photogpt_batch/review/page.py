"""The review page: one self-contained HTML file (inline CSS and script, the data as inert JSON), written to
``<output>/index.html``.

Escaping is structural: the data goes into a ``<script type="application/json">`` block with ``<``, ``>``,
``&`` and U+2028/U+2029 escaped, so no prompt, id or server message can close the block or be read as markup;
the page's script builds every node with ``textContent``. A Content-Security-Policy lets only the page's own
script and style run (by hash) and loads nothing from the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..campaign import Campaign
from ..errors import UsageError
from ..io.durable import describe, open_owned
from ..layout import PAGE as PAGE  # re-exported: the review package names its file
from ..layout import page_path, tmp_path
from ..ledger import Ledger, LedgerError, redact
from .data import review_page_data

_MARKER = re.compile(r"\{\{(TITLE|CSP|STYLE|SCRIPT|DATA)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class ReviewPageError(UsageError):
    """The page cannot be written (an unreadable ledger, a folder that cannot be written); exit 2."""


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def embed_json(value: Any) -> str:
    """``value`` as JSON safe inside a ``<script type="application/json">`` element: nothing in it can end the
    element (``</script>``), start a comment or be taken as a line break by a JavaScript parser."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group()], text)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_page(data: dict[str, Any]) -> str:
    """The page's HTML for `review_page_data` output."""
    # lineage.js defines what page.js calls: one script element, one hash.
    style, script = _asset("page.css"), _asset("lineage.js") + "\n" + _asset("page.js")
    # Media and images come only from the page's own folder (or, on file://, from the file system);
    # nothing else may be fetched, framed or run.
    csp = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
           "img-src 'self' file: data: blob:; media-src 'self' file: blob:; base-uri 'none'; form-action 'none'")
    values = {
        "TITLE": html.escape(f"{data['campaign']} · review"),
        "CSP": html.escape(csp, quote=False),  # in a double-quoted attribute; a CSP has no double quotes
        "STYLE": style,
        "SCRIPT": script,
        "DATA": embed_json(data),
    }
    # One pass over the template: text filled in is never searched for markers again.
    return _MARKER.sub(lambda m: values[m.group(1)], _asset("page.html"))


def write_page(output: Path, page: str) -> Path:
    """Write ``page`` to ``<output>/index.html`` (a temporary file renamed into place), unless it already
    holds exactly that: a rerun of a finished campaign writes nothing. A link in its place is replaced."""
    path = page_path(output)
    data = page.encode("utf-8")
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return path
    except OSError:
        pass
    output.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    tmp.unlink(missing_ok=True)
    with open(open_owned(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def write_review_page(campaign: Campaign, ledger: Ledger | None = None, ledger_url: str | None = None) -> Path:
    """Write the review page of ``campaign`` into its output folder; returns its path.

    ``ledger``: an open ledger of the campaign (a run's own); by default its ledger is opened for reading: the
    folder's, or with ``ledger_url`` the shared one (a campaign that never ran shows every job as not
    submitted). Raises `ReviewPageError`."""
    where = campaign.output if ledger_url is None else redact(ledger_url)
    try:
        if ledger is None:
            with Ledger.open_for_reading(campaign.output, url=ledger_url, campaign=campaign.name) as reader:
                owner = reader.meta("campaign")
                if owner is not None and owner != campaign.name:
                    # Its jobs would be matched to this spec's by id: another campaign's videos under these names.
                    raise ReviewPageError(f"{campaign.output} belongs to campaign {owner!r}, not {campaign.name!r}: "
                                       "give --output the folder of this campaign")
                data = review_page_data(campaign, reader)
        else:
            data = review_page_data(campaign, ledger)
        return write_page(campaign.output, render_page(data))
    except LedgerError as exc:
        raise ReviewPageError(f"cannot read the ledger in {where}: {exc}") from exc
    except OSError as exc:
        raise ReviewPageError(f"cannot write {page_path(campaign.output)}: {describe(exc)}") from exc
