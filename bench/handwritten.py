"""The baseline: what a capable user writes in an afternoon with aiohttp, to compare photogpt-batch against.

    PHOTOGPT_BASE_URL=http://127.0.0.1:8585/api PHOTOGPT_API_KEY=k python bench/handwritten.py bodies.json out/

``bodies.json`` is a JSON list of ``POST /videos/generation`` bodies. Each job, under a semaphore of 64:
submit, poll ``GET /jobs/{id}`` every second until it finishes, ``create-download``, poll ``/download`` every
second until ready, stream the file to ``out/<n>.mp4``. No ledger, no resume, no hashing, no retries.

``--concurrency 1 --poll 8 --download-poll 5`` is the vendor guide's own pattern: one job at a time, the job
polled every 8 s and the download every 5 s.

``--durable`` adds, the plain way, the work the CPU target counts ("ledger and hashing included"): an SQLite
ledger (WAL, ``synchronous=FULL``) committed on the spot at each step (intent before the POST, the jobId,
the file's size and sha256), each file written to ``<n>/1.mp4.part`` in a folder per job, hashed, fsynced,
renamed and its folder fsynced. No group commit, no threads: the cheapest CPU there is for that work.

It deliberately imports nothing from photogpt_batch.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import sys
from pathlib import Path

import aiohttp


class Ledger:
    """``--durable``: one row per job, committed (fsync) at each step, in the event loop's thread."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS jobs (n INTEGER PRIMARY KEY, state TEXT, remote_id TEXT,"
                          " bytes INTEGER, sha256 TEXT)")

    def record(self, sql: str, *params: object) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(sql, params)
        self.conn.execute("COMMIT")


def _durable_file(part: Path, dest: Path) -> None:
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def one_job(session: aiohttp.ClientSession, files: aiohttp.ClientSession, base: str, body: dict, dest: Path,
                  args: argparse.Namespace, sem: asyncio.Semaphore, ledger: Ledger | None, row: int) -> None:
    async with sem:
        if ledger:
            ledger.record("INSERT INTO jobs (n, state) VALUES (?, 'submitting')", row)
        async with session.post(f"{base}/videos/generation", json=body) as r:
            r.raise_for_status()
            job_id = (await r.json())["result"]["jobId"]
        if ledger:
            ledger.record("UPDATE jobs SET state = 'submitted', remote_id = ? WHERE n = ?", job_id, row)
        while True:
            async with session.get(f"{base}/jobs/{job_id}") as r:
                r.raise_for_status()
                job = (await r.json())["result"]
            status = str(job.get("status", "")).lower()
            if status not in ("created", "queued", "running"):
                break
            await asyncio.sleep(args.poll)
        if status != "success":
            raise RuntimeError(f"job {job_id} {status}: {job.get('error')}")
        for n, video in enumerate(job["videos"], 1):
            async with session.get(f"{base}/videos/{video['id']}/create-download") as r:
                r.raise_for_status()
            while True:
                async with session.get(f"{base}/videos/{video['id']}/download") as r:
                    r.raise_for_status()
                    download = (await r.json())["result"]
                if download["status"] == "ready":
                    break
                if download["status"] == "error":
                    raise RuntimeError("download preparation failed")
                await asyncio.sleep(args.download_poll)
            async with files.get(download["url"]) as r:
                r.raise_for_status()
                if ledger is None:
                    target = dest.with_name(f"{dest.stem}-{n}.mp4")
                    with open(target, "wb") as f:
                        async for chunk in r.content.iter_chunked(64 * 1024):
                            f.write(chunk)
                    continue
                target = dest.with_suffix("") / f"{n}.mp4"
                target.parent.mkdir(exist_ok=True)
                part = target.with_name(target.name + ".part")
                digest, size = hashlib.sha256(), 0
                with open(part, "wb") as f:
                    async for chunk in r.content.iter_chunked(64 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
            _durable_file(part, target)
            ledger.record("UPDATE jobs SET state = 'done', bytes = ?, sha256 = ? WHERE n = ?", size,
                          digest.hexdigest(), row)


async def main(args: argparse.Namespace) -> int:
    base = os.environ["PHOTOGPT_BASE_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {os.environ['PHOTOGPT_API_KEY']}", "API-Version": "1"}
    bodies = json.loads(Path(args.bodies).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sem = asyncio.Semaphore(args.concurrency)
    ledger = Ledger(out / "ledger.sqlite3") if args.durable else None
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    # The file host is another origin (a CDN): a second session without the Authorization header.
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session, aiohttp.ClientSession() as files:
        results = await asyncio.gather(
            *(one_job(session, files, base, body, out / f"{i:06d}.mp4", args, sem, ledger, i)
              for i, body in enumerate(bodies, 1)),
            return_exceptions=True,
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures[:5]:
        print(f"error: {failure!r}", file=sys.stderr)
    print(json.dumps({"jobs": len(bodies), "failed": len(failures)}))
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="An afternoon's aiohttp batch script (the baseline).")
    parser.add_argument("bodies")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between job polls")
    parser.add_argument("--download-poll", type=float, default=1.0, help="seconds between download polls")
    parser.add_argument("--durable", action="store_true", help="keep a ledger, hash and fsync (see above)")
    sys.exit(asyncio.run(main(parser.parse_args())))
