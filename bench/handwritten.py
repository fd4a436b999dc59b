"""The baseline: what a capable user writes in an afternoon with aiohttp, to compare photogpt-batch against.

    PHOTOGPT_BASE_URL=http://127.0.0.1:8585/api PHOTOGPT_API_KEY=k python bench/handwritten.py bodies.json out/

``bodies.json`` is a JSON list of ``POST /videos/generation`` bodies. Each job, under a semaphore of 64:
submit, poll ``GET /jobs/{id}`` every second until it finishes, ``create-download``, poll ``/download`` every
second until ready, stream the file to ``out/<n>.mp4``. No ledger, no resume, no hashing, no retries.

``--concurrency 1 --poll 8 --download-poll 5`` is the vendor guide's own pattern: one job at a time, the job
polled every 8 s and the download every 5 s.

It deliberately imports nothing from photogpt_batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp


async def one_job(session: aiohttp.ClientSession, files: aiohttp.ClientSession, base: str, body: dict, dest: Path,
                  args: argparse.Namespace, sem: asyncio.Semaphore) -> None:
    async with sem:
        async with session.post(f"{base}/videos/generation", json=body) as r:
            r.raise_for_status()
            job_id = (await r.json())["result"]["jobId"]
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
                target = dest.with_name(f"{dest.stem}-{n}.mp4")
                with open(target, "wb") as f:
                    async for chunk in r.content.iter_chunked(64 * 1024):
                        f.write(chunk)


async def main(args: argparse.Namespace) -> int:
    base = os.environ["PHOTOGPT_BASE_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {os.environ['PHOTOGPT_API_KEY']}", "API-Version": "1"}
    bodies = json.loads(Path(args.bodies).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sem = asyncio.Semaphore(args.concurrency)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    # The file host is another origin (a CDN): a second session without the Authorization header.
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session, aiohttp.ClientSession() as files:
        results = await asyncio.gather(
            *(one_job(session, files, base, body, out / f"{i:06d}.mp4", args, sem)
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
    sys.exit(asyncio.run(main(parser.parse_args())))
