"""Counters prove what a client did: requests per route, jobs per payload, file bytes, credentials."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import aiohttp
from sandbox_helpers import MINIMAL, Api

from photogpt_batch.sandbox import Counters, canonical_json


async def test_requests_are_counted_per_route_pattern(api: Api) -> None:
    job_id = await api.submit()
    await api.get(f"/jobs/{job_id}")
    await api.get(f"/jobs/{job_id}")
    requests = api.sandbox.counters.requests
    assert requests["POST /videos/generation"] == 1
    assert requests["GET /jobs/{id}"] == 2


async def test_responses_are_counted_per_route_and_status(api: Api) -> None:
    await api.get("/jobs/job_nope")
    assert api.sandbox.counters.responses["GET /jobs/{id} 404"] == 1


async def test_identical_payloads_are_counted_together(api: Api) -> None:
    await api.submit({"prompt": "same", "modelID": "veo-3.1"})
    await api.submit({"modelID": "veo-3.1", "prompt": "same"})
    await api.submit(MINIMAL)
    counters = api.sandbox.counters
    key = canonical_json({"modelID": "veo-3.1", "prompt": "same"})
    assert counters.payload_counts[key] == 2
    assert counters.duplicate_payloads() == {key: 2}
    assert counters.jobs_created == 3


async def test_rejected_payloads_create_no_count(api: Api) -> None:
    await api.post({"modelID": "veo-3.1"})
    assert api.sandbox.counters.payload_counts == {}
    assert api.sandbox.counters.jobs_created == 0


async def test_bytes_served_match_what_was_downloaded(api: Api, session: aiohttp.ClientSession) -> None:
    job = await api.wait_job(await api.submit())
    url = await api.ready_url(job["videos"][0]["id"])
    async with session.get(url) as response:
        received = len(await response.read())
    async with session.get(url, headers={"Range": "bytes=0-99"}) as response:
        received += len(await response.read())
    assert api.sandbox.counters.bytes_served == received == 20_100


async def test_file_routes_are_counted(api: Api, session: aiohttp.ClientSession) -> None:
    job = await api.wait_job(await api.submit())
    async with session.get(await api.ready_url(job["videos"][0]["id"])) as response:
        await response.read()
    assert api.sandbox.counters.requests["GET /files/{name}"] == 1


async def test_counters_reset_in_process(api: Api) -> None:
    await api.submit()
    api.sandbox.counters.reset()
    counters = api.sandbox.counters
    assert (counters.requests, counters.payload_counts, counters.jobs_created) == ({}, {}, 0)
    assert len(api.sandbox.jobs) == 1


async def test_admin_route_serves_and_resets_counters(api: Api, session: aiohttp.ClientSession) -> None:
    await api.submit()
    admin = api.sandbox.base_url.removesuffix("/api") + "/_sandbox/counters"
    async with session.get(admin) as response:
        snapshot = await response.json()
    assert snapshot["requests"] == {"POST /videos/generation": 1}
    assert snapshot["jobsCreated"] == 1
    assert list(snapshot["payloadCounts"].values()) == [1]
    async with session.post(admin + "/reset") as response:
        assert response.status == 200
    assert api.sandbox.counters.jobs_created == 0


async def test_admin_requests_are_not_counted(api: Api, session: aiohttp.ClientSession) -> None:
    async with session.get(api.sandbox.base_url.removesuffix("/api") + "/_sandbox/counters") as response:
        await response.read()
    assert api.sandbox.counters.requests == {}


async def test_the_docs_name_every_counter_as_its_json_does(api: Api, session: aiohttp.ClientSession) -> None:
    page = (Path(__file__).parents[2] / "docs" / "sandbox.md").read_text(encoding="utf-8")
    section = page.split("## Counters", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", section, flags=re.MULTILINE))
    async with session.get(api.sandbox.base_url.removesuffix("/api") + "/_sandbox/counters") as response:
        served = await response.json()
    assert set(rows) == set(served)  # the JSON names, as GET /_sandbox/counters answers them
    assert set(rows.values()) == {f.name for f in fields(Counters)}  # and the Python attribute beside each
