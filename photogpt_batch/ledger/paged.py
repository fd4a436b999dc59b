"""The reads that go through every job of a campaign a page at a time (`PAGE` rows), so that a campaign of
100,000 jobs is never held whole: the current versions' records (`iter_jobs`, which a run's summary walks
through; `iter_records_of`, by the spec's jobs, for the review page), what was paid (`iter_paid`, for prices)
and the manifest's entries (`iter_manifest_entries`). Keyset pages, after the last row read: each page is one
indexed range, whatever its place in the table."""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..campaign import PlannedJob
from .records import JobBrief, JobRecord
from .rows import BRIEF_COLUMNS, PAGE, job_briefs
from .states import JobState

#: Jobs read at a time by their ids or rows (`iter_records_of`, `records_at`): within any store's limit on
#: parameters.
CHUNK = 500


class PagedReads(abc.ABC):
    """Paged reads over a store's ``_query`` and ``_select_jobs`` (`Ledger` supplies them)."""

    _scope: str
    _scope_params: tuple[Any, ...]
    _same_campaign: str

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read."""

    @abc.abstractmethod
    def _select_jobs(self, where: str, params: Sequence[Any] = ()) -> list[JobRecord]:
        """Job records matching ``where``, with their videos."""

    def _page_end(self) -> str:
        """Where a page of current versions ends: the `PAGE`-th current row after the last one read (its one
        parameter), as a scalar subquery; `iter_jobs` and `brief_pages` read the rows up to it."""
        return (f"(SELECT max(id) FROM (SELECT id FROM jobs WHERE {self._scope}current = 1 AND id > ? ORDER BY id"
                f" LIMIT {PAGE}) AS page)")

    def iter_jobs(self) -> Iterator[JobRecord]:
        """`Ledger.jobs`, one record at a time, read a page at a time: every job's current version, with its
        videos, in the order they were first recorded."""
        # Its jobs and their videos are read as `jobs` reads them, in one snapshot.
        end = self._page_end()
        after = 0
        while True:
            records = self._select_jobs(f"jobs.current = 1 AND jobs.id > ? AND jobs.id <= {end}",
                                        (after, *self._scope_params, after))
            yield from records
            if len(records) < PAGE:
                return
            after = records[-1].row

    def iter_briefs(self) -> Iterator[JobBrief]:
        """Every job's current version as a `JobBrief` (with its videos), in the order they were first recorded,
        read a page at a time: what a run's summary goes through."""
        for page in self.brief_pages():
            yield from page

    def brief_pages(self) -> Iterator[list[JobBrief]]:
        """`iter_briefs` a page (`PAGE` jobs) at a time, for a caller that looks up something of a whole page at
        once (a run's start, the files of a page's videos). At half the cost of `iter_jobs`'s full records: one
        joined statement per page, a third of the columns."""
        end = self._page_end()
        sql = (f"SELECT {BRIEF_COLUMNS} FROM jobs LEFT JOIN videos v ON v.job = jobs.id WHERE {self._scope}"
               f"jobs.current = 1 AND jobs.id > ? AND jobs.id <= {end} ORDER BY jobs.id, v.n")
        after = 0
        while True:
            briefs = job_briefs(self._query(sql, (*self._scope_params, after, *self._scope_params, after)))
            if briefs:
                yield briefs
            if len(briefs) < PAGE:
                return
            after = briefs[-1].row

    def iter_records_of(self, planned: Sequence[PlannedJob]) -> Iterator[tuple[PlannedJob, JobRecord | None]]:
        """Each of ``planned`` (a spec's jobs) with its current record (None: never recorded), in ``planned``'s
        order, read `CHUNK` jobs at a time by their ids: the review page shows the spec's jobs in its order
        without holding every record."""
        for first in range(0, len(planned), CHUNK):
            chunk = planned[first:first + CHUNK]
            ids = [job.id for job in chunk]
            found = {r.job_id: r for r in self._select_jobs(
                f"jobs.current = 1 AND jobs.job_id IN ({', '.join('?' * len(ids))})", ids)}
            for job in chunk:
                yield job, found.get(job.id)

    def records_at(self, rows: Sequence[int]) -> list[JobRecord]:
        """The current versions at job rows ``rows``, read `CHUNK` rows at a time: the few a caller has picked out
        without reading (and holding) every record to find them."""
        found: list[JobRecord] = []
        for first in range(0, len(rows), CHUNK):
            chunk = rows[first:first + CHUNK]
            found += self._select_jobs(f"jobs.current = 1 AND jobs.id IN ({', '.join('?' * len(chunk))})", chunk)
        return found

    def iter_paid(self) -> Iterator[tuple[dict[str, Any], float]]:
        """(request body, credits) of every job version, current or replaced, that succeeded and whose credits are
        known: what prices are learned from. Two columns of the jobs table, a page at a time (one statement per
        page, not a full read and then a statement per job: learning from a 100,000-job campaign on this machine
        took ``plan`` 10 s and 300 MB)."""
        return self._paid_where(self._scope, self._scope_params)

    def _paid_where(self, scope: str, params: Sequence[Any]) -> Iterator[tuple[dict[str, Any], float]]:
        """`iter_paid` over the jobs that ``scope`` (a condition ending in ``AND``, with ``params``) selects: this
        campaign's, or on the shared ledger every other campaign's (`Ledger.paid_by_other_campaigns`)."""
        sql = (f"SELECT id, body, credits FROM jobs WHERE {scope}state = ? AND credits IS NOT NULL AND id > ?"
               f" ORDER BY id LIMIT {PAGE}")
        after = 0
        while True:
            rows = self._query(sql, (*params, JobState.SUCCEEDED.value, after))
            for _, body, credits in rows:
                yield json.loads(body), float(credits)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def iter_manifest_entries(self) -> Iterator[dict[str, Any]]:
        """One manifest object per downloaded video of every job version, in ledger order: ``job``,
        ``model``, ``jobId``, ``videoId``, ``path`` (relative to the output folder), ``bytes``, ``sha256``,
        ``version`` (1 for a job's first content, counting each change) and ``current`` (false for the files
        of a version the spec has since changed)."""
        # The version counts the job's rows up to this one, through the (job_id, content_hash) index: as fast
        # as no version at all (0.44 s for 100,000 videos), where a window over every job costs 50% more.
        keys = ("job", "model", "jobId", "videoId", "path", "bytes", "sha256", "version", "current")
        # One entry at a time: the manifest's rewrite turns each into its line, so 20,000 dicts are never held;
        # and the rows are read a page at a time, after the last (job, video) read, for the same reason.
        sql = ("SELECT jobs.job_id, jobs.model, jobs.remote_id, v.video_id, v.path, v.bytes, v.sha256, (SELECT "
               f"count(*) FROM jobs AS e WHERE e.job_id = jobs.job_id AND e.id <= jobs.id{self._same_campaign}),"
               f" jobs.current, jobs.id, v.n FROM videos v JOIN jobs ON jobs.id = v.job WHERE {self._scope}v.state"
               f" = 'downloaded' AND (jobs.id > ? OR (jobs.id = ? AND v.n > ?)) ORDER BY jobs.id, v.n LIMIT {PAGE}")
        after = (0, 0)
        while True:
            rows = self._query(sql, (*self._scope_params, after[0], after[0], after[1]))
            for row in rows:
                yield {**dict(zip(keys, row[:9], strict=True)), "current": bool(row[8])}
            if len(rows) < PAGE:
                return
            after = rows[-1][9:]

    def manifest_entries(self) -> list[dict[str, Any]]:
        """`iter_manifest_entries` as a list."""
        return list(self.iter_manifest_entries())
