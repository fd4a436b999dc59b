"""The sandbox in a process of its own, for benchmarks: the tool's CPU and memory are then measured alone.

    python bench/sandbox_proc.py '{"seed": 1, "generation_seconds": [0.5, 2.0], "faults": {"fail_rate": 0.03}}'

The argument is a JSON object of `SandboxConfig` fields (``faults`` holds `Faults` fields). The process prints
one JSON line ``{"api": ..., "files": ..., "pid": ...}`` once both origins listen, then serves until SIGTERM or
SIGINT. Besides the sandbox's own admin routes (``/_sandbox/counters``, ``/_sandbox/jobs``) it answers
``GET /_sandbox/bench/jobs``: every job with its phase times, outcome, videos and request body, from which a
benchmark computes the ideal run time and proves that no request body created two jobs. Admin routes are not
counted as API requests by the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from aiohttp import web

from photogpt_batch.sandbox import Faults, Sandbox, SandboxConfig
from photogpt_batch.sandbox.counters import canonical_json


class BenchSandbox(Sandbox):
    """The sandbox plus one read-only admin route that exposes each job's drawn timings."""

    def _api_app(self) -> web.Application:
        app = super()._api_app()
        app.router.add_get("/_sandbox/bench/jobs", self._bench_jobs, allow_head=False)
        return app

    async def _bench_jobs(self, request: web.Request) -> web.StreamResponse:
        jobs = [
            {
                "jobId": job.job_id,
                "ordinal": job.ordinal,
                "createdAt": job.created_at,
                "runningAt": job.running_at,
                "finishedAt": job.finished_at,
                "fails": job.fails,
                "credits": job.credits,
                "videoIds": job.video_ids,
                "body": canonical_json(job.body),
            }
            for job in sorted(self.world.jobs.values(), key=lambda j: j.ordinal)
        ]
        return web.json_response({"jobs": jobs, "now": self.world.now()})


def make_config(spec: dict[str, Any]) -> SandboxConfig:
    """A `SandboxConfig` from JSON-ready fields."""
    fields = dict(spec)
    faults = Faults(**fields.pop("faults", {}))
    if "generation_seconds" in fields:
        fields["generation_seconds"] = tuple(fields["generation_seconds"])
    return SandboxConfig(faults=faults, **fields)


async def serve(cfg: SandboxConfig) -> None:
    """Serve until SIGTERM/SIGINT; announce the URLs on stdout."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with BenchSandbox(cfg, host="127.0.0.1", port=0, file_port=0) as sb:
        print(json.dumps({"api": sb.base_url, "files": sb.files_url, "pid": os.getpid()}), flush=True)
        await stop.wait()


def main() -> None:
    """Entry point: ``sandbox_proc.py CONFIG_JSON``."""
    cfg = make_config(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cfg))


if __name__ == "__main__":
    main()
