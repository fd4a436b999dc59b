"""The sandbox's API origin: authentication and the version header, routed faults, and the routes: ping,
generation, jobs, videos and their downloads, and the admin routes tests read counters from."""

from __future__ import annotations

import asyncio
import hmac
import json
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .config import ROUTED_FAULT_KINDS
from .core import SandboxCore
from .counters import canonical_json
from .references import fetch_at_start, references
from .replies import (
    ADMIN_PREFIX,
    API_PREFIX,
    DROPPED,
    HTML_ERROR_PAGE,
    ApiError,
    Handler,
    nok,
    ok,
    reject_constant,
    route_key,
)
from .state import (
    ODD_CASE,
    Job,
    PageTokenInvalid,
    decode_page_token,
    encode_page_token,
    parse_rfc3339,
    rfc3339,
)
from .validation import RequestInvalid, validate_generation

DAY = 24 * 3600.0
MAX_JOBS_RANGE = 7 * DAY
MAX_VIDEOS_PAGE_SIZE = 100
VIDEO_TYPE = "generated"


class ApiRoutes(SandboxCore):
    """The API origin's application (`_api_app`) and its handlers."""

    def _api_app(self) -> web.Application:
        app = web.Application(middlewares=[self._api_middleware])
        get = app.router.add_get
        get(f"{API_PREFIX}/ping", self._ping, allow_head=False)
        app.router.add_post(f"{API_PREFIX}/videos/generation", self._generate)
        get(f"{API_PREFIX}/jobs", self._list_jobs, allow_head=False)
        get(f"{API_PREFIX}/jobs/{{id}}", self._get_job, allow_head=False)
        get(f"{API_PREFIX}/videos", self._list_videos, allow_head=False)
        get(f"{API_PREFIX}/videos/{{id}}", self._get_video, allow_head=False)
        get(f"{API_PREFIX}/videos/{{id}}/create-download", self._create_download, allow_head=False)
        get(f"{API_PREFIX}/videos/{{id}}/download", self._download, allow_head=False)
        get(f"{ADMIN_PREFIX}counters", self._admin_counters, allow_head=False)
        app.router.add_post(f"{ADMIN_PREFIX}counters/reset", self._admin_reset)
        get(f"{ADMIN_PREFIX}jobs", self._admin_jobs, allow_head=False)
        return app

    @web.middleware
    async def _api_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        route = route_key(request, API_PREFIX)
        self.counters.requests[route] += 1
        try:
            response = await self._api_guarded(request, handler, route)
        except ApiError as exc:
            response = nok(exc.status, exc.message, exc.err)
        except web.HTTPException as exc:
            # aiohttp's own refusals (e.g. 413 for a huge body) get the API's envelope too.
            response = nok(exc.status, exc.reason, exc.reason)
        outcome = "dropped" if request.get(DROPPED) else str(response.status)
        self.counters.responses[f"{route} {outcome}"] += 1
        # The server's Date, from the same clock as its createdAt times (as on a real server), so a client
        # can measure how far apart the two clocks are; aiohttp would otherwise stamp the host's time.
        response.headers["Date"] = formatdate(self.config.clock(), usegmt=True)
        return response

    async def _api_guarded(self, request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        self._check_auth(request)
        exception = request.match_info.http_exception
        if exception is not None:
            raise ApiError(
                exception.status, f"no route for {request.method} {request.path}", exception.reason
            )
        fired = {
            kind: self.plan.applies_to(kind, route) and self.plan.fires(kind) for kind in ROUTED_FAULT_KINDS
        }
        for kind, did in fired.items():
            if did:
                self.counters.faults[kind] += 1
        faults = self.plan.faults
        if fired["slow"]:
            await asyncio.sleep(faults.slow_seconds)
        if fired["rate_limit"]:
            return nok(
                429,
                "too many requests: slow down and keep fewer jobs active",
                "rate limit exceeded",
                headers={"Retry-After": str(faults.retry_after_seconds)},
            )
        if fired["server_error"]:
            return nok(faults.server_error_status, "internal server error", "sandbox: injected server error")
        if fired["html_error"]:
            status = faults.html_error_status
            return web.Response(
                status=status,
                text=HTML_ERROR_PAGE.format(status=status, phrase=HTTPStatus(status).phrase),
                content_type="text/html",
            )
        return await handler(request)

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(
                401, "missing or malformed Authorization header: send 'Bearer <key>'", "unauthorized"
            )
        expected = self.config.api_key
        if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
            raise ApiError(401, "invalid API key", "unauthorized")
        self._seen_keys.add(key)
        version = request.headers.get("API-Version")
        if version != "1":
            shown = "missing" if version is None else repr(version)
            raise ApiError(400, f"API-Version header must be 1 (got {shown})", "unsupported api version")

    def _status(self, status: str) -> str:
        return ODD_CASE[status] if self.plan.faults.odd_case_status else status

    def _video_url(self, video_id: str) -> str:
        return f"{self.files_url}/hls/{video_id}.m3u8"

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "pong!", "status": "OK"})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        try:
            body = json.loads(text, parse_constant=reject_constant)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid json") from None
        try:
            generation = validate_generation(body, self.config.accept_models)
        except RequestInvalid as exc:
            raise ApiError(400, exc.message, f"invalid field {exc.field}") from None
        job = self.world.create_job(body, generation)
        if self.config.fetch_references and not job.fails and references(body):
            task = asyncio.create_task(fetch_at_start(self.world, job))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
        self.counters.jobs_created += 1
        self.counters.payload_counts[canonical_json(body)] += 1
        if job.fails:
            self.counters.faults["fail"] += 1
        if self.plan.fires("lost_post"):
            self.counters.faults["lost_post"] += 1
            if self.plan.lost_post_drops():
                # The job exists and runs; the client only sees the connection close.
                request[DROPPED] = True
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            return nok(self.plan.faults.lost_post_status, "internal server error",
                       "sandbox: response lost after the job was created")
        return ok({"jobId": job.job_id, "status": self._status("queued")})

    def _job_or_404(self, request: web.Request) -> Job:
        job = self.world.jobs.get(request.match_info["id"])
        if job is None:
            raise ApiError(404, f"job {request.match_info['id']!r} not found", "not found")
        return job

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job = self._job_or_404(request)
        now = self.world.now()
        status = job.status_at(now)
        done = status == "success"
        return ok(
            {
                "jobId": job.job_id,
                "status": self._status(status),
                "videos": [{"id": v, "url": self._video_url(v)} for v in job.video_ids] if done else [],
                "images": [{"id": i, "url": self.signed_url(f"/files/{i}.png")} for i in job.image_ids]
                if done
                else [],
                "error": job.error_message if status == "failed" else None,
                "modelId": job.model_id,
                "createdAt": rfc3339(job.created_at),
            }
        )

    async def _list_jobs(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        now = self.world.now()
        try:
            end = parse_rfc3339(query["end"]) if query.get("end") else now
        except ValueError:
            raise ApiError(
                400, f"end must be an RFC 3339 time, got {query['end']!r}", "invalid end"
            ) from None
        try:
            start = parse_rfc3339(query["start"]) if query.get("start") else end - DAY
        except ValueError:
            raise ApiError(
                400, f"start must be an RFC 3339 time, got {query['start']!r}", "invalid start"
            ) from None
        if start > end:
            raise ApiError(400, "start must not be after end", "invalid range")
        if end - start > MAX_JOBS_RANGE:
            raise ApiError(400, "the range from start to end must be at most 7 days", "invalid range")
        after = 0
        if query.get("pageToken"):
            try:
                after = decode_page_token(query["pageToken"])
            except PageTokenInvalid:
                raise ApiError(400, "pageToken is not valid", "invalid page token") from None
        page, more = self.world.jobs_between(start, end, after, self.config.jobs_page_size)
        items = []
        for job in page:
            status = job.status_at(now)
            items.append(
                {
                    "jobId": job.job_id,
                    "status": self._status(status),
                    "credits": None if self.plan.faults.no_credits else job.credits,
                    "errorMessage": job.error_message if status == "failed" else None,
                    "createdAt": rfc3339(job.created_at),
                    "updatedAt": rfc3339(job.updated_at(now)),
                }
            )
        token = encode_page_token(page[-1].ordinal) if more else None
        return ok({"jobs": items, "nextPageToken": token})

    def _video_record(self, job: Job, video_id: str) -> dict[str, Any]:
        return {
            "id": video_id,
            "jobId": job.job_id,
            "modelID": job.model_id,
            "type": VIDEO_TYPE,
            "url": self._video_url(video_id),
            "createdAt": rfc3339(job.finished_at),
            "updatedAt": rfc3339(job.finished_at),
        }

    @staticmethod
    def _positive_int(query: Any, name: str, default: int, maximum: int | None = None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise ApiError(400, f"{name} must be a positive integer, got {raw!r}", f"invalid {name}")
        if maximum is not None and int(raw) > maximum:
            raise ApiError(400, f"{name} must be at most {maximum}, got {raw}", f"invalid {name}")
        return int(raw)

    async def _list_videos(self, request: web.Request) -> web.StreamResponse:
        video_type = request.query.get("videoType") or "all"
        page_num = self._positive_int(request.query, "pageNum", 1)
        page_size = self._positive_int(request.query, "pageSize", 20, MAX_VIDEOS_PAGE_SIZE)
        videos = [
            (job, video_id)
            for job, _, video_id in self.world.finished_videos()
            if video_type in ("all", VIDEO_TYPE)
        ]
        first = (page_num - 1) * page_size
        return ok([self._video_record(job, vid) for job, vid in videos[first : first + page_size]])

    def _video_or_404(self, request: web.Request) -> tuple[Job, str]:
        video_id = request.match_info["id"]
        found = self.world.visible_video(video_id)
        if found is None:
            raise ApiError(404, f"video {video_id!r} not found", "not found")
        return found[0], video_id

    async def _get_video(self, request: web.Request) -> web.StreamResponse:
        job, video_id = self._video_or_404(request)
        return ok(self._video_record(job, video_id))

    async def _create_download(self, request: web.Request) -> web.StreamResponse:
        _, video_id = self._video_or_404(request)
        started = self.world.start_download(video_id)
        if started and self.world.downloads[video_id].fails:
            self.counters.faults["download_error"] += 1
        return ok("download started" if started else "download already started")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        _, video_id = self._video_or_404(request)
        download = self.world.downloads.get(video_id)
        if download is None:
            raise ApiError(
                409, f"no download prepared for video {video_id!r}: call create-download first", "conflict"
            )
        now = self.world.now()
        status, percent = download.status_at(now)
        url = None
        if status == "ready":
            expires = None
            if self.plan.fires("expired_url"):
                self.counters.faults["expired_url"] += 1
                expires = int(now) - 1
            url = self.signed_url(f"/files/{video_id}.mp4", expires)
        return ok({"status": status, "percentComplete": percent, "url": url})

    async def _admin_counters(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.counters.snapshot())

    async def _admin_reset(self, request: web.Request) -> web.StreamResponse:
        self.counters.reset()
        return web.json_response({"status": "OK"})

    async def _admin_jobs(self, request: web.Request) -> web.StreamResponse:
        now = self.world.now()
        jobs = {job_id: job.status_at(now) for job_id, job in self.world.jobs.items()}
        return web.json_response({"jobs": jobs})
