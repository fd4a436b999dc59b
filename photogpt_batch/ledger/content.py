"""A campaign's whole content, store-independent: what `Ledger.export_content` reads and
`Ledger.import_content` writes (for ``ledger push`` and ``pull``, `transfer`).

Every job version, video, event (with its clock offset) and meta fact, with their times; row ids are replaced
by the job's position in the campaign, since ids differ between stores. The SQL is the stores' shared SQL
(``?`` placeholders), scoped to the campaign as `Ledger`'s reads are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .ops import Tx

JOB_FIELDS = ("job_id, content_hash, model, body, state, remote_id, error, err, credits, current, created_at,"
              " updated_at, attempts, submitted_at")
VIDEO_FIELDS = "n, video_id, state, url, path, bytes, sha256, error, created_at, updated_at"

#: A snapshot's query function: (sql, params) -> rows.
Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def read_content(query: Query, scope: str, params: Sequence[Any], meta_scope: str) -> dict[str, Any]:
    """The campaign's content through ``query`` (one snapshot): jobs in order, each with its videos and events
    (job references as positions), and its meta facts. ``scope``/``meta_scope`` pick the campaign's rows."""
    jobs = query(f"SELECT id, {JOB_FIELDS} FROM jobs WHERE {scope}TRUE ORDER BY id", params)
    videos = query(f"SELECT v.job, {', '.join('v.' + c.strip() for c in VIDEO_FIELDS.split(','))} FROM videos v"
                   f" JOIN jobs ON jobs.id = v.job WHERE {scope}TRUE ORDER BY v.job, v.n", params)
    events = query("SELECT e.job, e.at, e.n, e.from_state, e.to_state, e.detail, e.clock_offset FROM events e"
                   f" JOIN jobs ON jobs.id = e.job WHERE {scope}TRUE ORDER BY e.id", params)
    meta = query(f"SELECT key, value FROM meta WHERE {meta_scope}TRUE ORDER BY key", params)
    position = {row[0]: k for k, row in enumerate(jobs)}
    return {
        "jobs": [list(row[1:]) for row in jobs],
        "videos": [[position[row[0]], *row[1:]] for row in videos],
        "events": [[position[row[0]], *row[1:]] for row in events],
        "meta": dict(meta),
    }


def write_content(tx: Tx, content: dict[str, Any], insert_scope: tuple[str, str], params: Sequence[Any]) -> None:
    """Insert ``content`` (a `read_content`) in the open transaction ``tx``; ``insert_scope`` and ``params``
    name the campaign's column and value in a shared store."""
    column, value = insert_scope
    rows = []
    for job in content["jobs"]:
        marks = ", ".join("?" * len(job))
        rows.append(tx.execute(f"INSERT INTO jobs ({column}{JOB_FIELDS}) VALUES ({value}{marks}) RETURNING id",
                               (*params, *job)).fetchone()[0])
    if content["videos"]:
        tx.executemany(f"INSERT INTO videos (job, {VIDEO_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(rows[v[0]], *v[1:]) for v in content["videos"]])
    if content["events"]:
        # With each event's clock offset: a copied doubt is still judged on the server's clock (reconcile.py).
        tx.executemany("INSERT INTO events (job, at, n, from_state, to_state, detail, clock_offset)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(rows[e[0]], *e[1:]) for e in content["events"]])
    for key, fact in content["meta"].items():
        tx.set_meta(key, fact)
