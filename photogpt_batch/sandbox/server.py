"""The sandbox's two HTTP origins: the PhotoGPT API and a signed-URL file host, as aiohttp applications."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import ssl
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import Any

from aiohttp import web

from .config import ROUTED_FAULT_KINDS, Faults, SandboxConfig
from .counters import Counters, canonical_json
from .faults import FaultPlan
from .media import VideoFile, make_playlist, make_png
from .picture import picture_for, render, requested_seconds
from .state import (
    ODD_CASE,
    Job,
    PageTokenInvalid,
    World,
    decode_page_token,
    encode_page_token,
    parse_rfc3339,
    rfc3339,
)
from .validation import RequestInvalid, validate_generation

API_PREFIX = "/api"
ADMIN_PREFIX = "/_sandbox/"
DAY = 24 * 3600.0
MAX_JOBS_RANGE = 7 * DAY
MAX_VIDEOS_PAGE_SIZE = 100
VIDEO_TYPE = "generated"
# Marks a request whose connection the lost-POST fault closed, so the counters say "dropped", not a status.
DROPPED = web.RequestKey("sandbox_dropped", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What a proxy in front of the API answers when the service behind it fails: HTML, not the JSON envelope.
HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """An error answered with the NOK envelope."""

    def __init__(self, status: int, message: str, err: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err = err


def ok(result: Any) -> web.Response:
    """The success envelope."""
    return web.json_response({"status": "OK", "result": result})


def nok(status: int, message: str, err: str, headers: dict[str, str] | None = None) -> web.Response:
    """The failure envelope."""
    body = {"status": "NOK", "message": message, "err": err, "result": None}
    return web.json_response(body, status=status, headers=headers)


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the vendor's server) does not.
    raise ValueError(f"{name} is not valid JSON")


def _file_error(status: int, code: str, message: str) -> web.Response:
    """An object-store style XML error, as S3 or GCS signed URLs answer."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


class Sandbox:
    """A local, faithful fake of the PhotoGPT video API: an API origin and a file origin on 127.0.0.1.

    Use ``async with Sandbox(cfg) as sb`` or ``await sb.start()`` / ``await sb.stop()``. Port 0 picks a free
    port. With ``ssl_context`` the API origin serves HTTPS (``base_url`` is ``https://``); the file origin stays
    plain HTTP, as a CDN's signed URLs may be.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        file_port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.file_port = file_port
        self.counters = Counters()
        self.plan = FaultPlan(self.config.faults, self.config.seed)
        self.world = World(self.config, self.plan)
        self._secret = self.config.url_secret or secrets.token_bytes(32)
        # Keys accepted on the API origin, to spot one that reaches the file origin by any other way.
        self._seen_keys: set[str] = set()
        self._api_runner: web.AppRunner | None = None
        self._file_runner: web.AppRunner | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> Sandbox:
        """Bind both origins and start serving; returns self."""
        if self._api_runner is not None:
            raise RuntimeError("the sandbox is already running")
        api_runner = web.AppRunner(self._api_app(), access_log=None, shutdown_timeout=1.0)
        file_runner = web.AppRunner(self._file_app(), access_log=None, shutdown_timeout=1.0)
        await api_runner.setup()
        await file_runner.setup()
        try:
            await web.TCPSite(api_runner, self.host, self.port, ssl_context=self.ssl_context).start()
            await web.TCPSite(file_runner, self.host, self.file_port).start()
        except BaseException:
            await api_runner.cleanup()
            await file_runner.cleanup()
            raise
        self._api_runner, self._file_runner = api_runner, file_runner
        self.port = api_runner.addresses[0][1]
        self.file_port = file_runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close both origins (idempotent); jobs and counters stay readable."""
        runners = (self._api_runner, self._file_runner)
        self._api_runner = self._file_runner = None
        for runner in runners:
            if runner is not None:
                await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- what tests read ---------------------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"[{host}]" if ":" in host else host

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://HOST:PORT/api`` (``https://`` with an ``ssl_context``)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self._url_host}:{self.port}{API_PREFIX}"

    @property
    def files_url(self) -> str:
        """The file origin, ``http://HOST:FILEPORT``."""
        return f"http://{self._url_host}:{self.file_port}"

    @property
    def jobs(self) -> dict[str, Job]:
        """Every job by jobId (including those whose POST response was lost)."""
        return self.world.jobs

    def job_status(self, job_id: str) -> str:
        """A job's status now, in lower case."""
        return self.world.jobs[job_id].status_at(self.world.now())

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; ordinals for ``*_nth`` triggers start again at 1."""
        self.config.faults = faults
        self.plan.faults = faults
        self.plan.ordinals.clear()

    def reset_counters(self) -> None:
        """Zero the counters (jobs and videos stay)."""
        self.counters.reset()

    def sign(self, path: str, expires: int) -> str:
        """The HMAC signature of a file path and expiry time."""
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_url(self, path: str, expires: int | None = None) -> str:
        """A file-origin URL for ``path`` valid until ``expires`` (default: now + url_ttl_seconds)."""
        if expires is None:
            expires = int(self.world.now() + self.config.url_ttl_seconds)
        return f"{self.files_url}{path}?expires={expires}&sig={self.sign(path, expires)}"

    # ---- the API origin ----------------------------------------------------------------------------------

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

    @staticmethod
    def _route_key(request: web.Request, prefix: str = "") -> str:
        info = request.match_info
        if info.http_exception is not None:
            return f"{request.method} <unmatched>"
        canonical = info.route.resource.canonical if info.route.resource is not None else request.path
        return f"{request.method} {canonical.removeprefix(prefix)}"

    @web.middleware
    async def _api_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        route = self._route_key(request, API_PREFIX)
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
            body = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid json") from None
        try:
            generation = validate_generation(body, self.config.accept_models)
        except RequestInvalid as exc:
            raise ApiError(400, exc.message, f"invalid field {exc.field}") from None
        job = self.world.create_job(body, generation)
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
            return nok(500, "internal server error", "sandbox: response lost after the job was created")
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
                    "credits": job.credits,
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

    # ---- the file origin ---------------------------------------------------------------------------------

    def _file_app(self) -> web.Application:
        app = web.Application(middlewares=[self._file_middleware])
        app.router.add_get("/files/{name}", self._serve_file)
        app.router.add_get("/hls/{name}", self._serve_playlist)
        return app

    @web.middleware
    async def _file_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self._route_key(request)
        self.counters.requests[route] += 1
        if "Authorization" in request.headers or self._carries_api_key(request):
            # Signed object-store URLs refuse a second authentication mechanism; counted so tests can prove
            # the client never sends its key here.
            self.counters.credentialed_file_requests += 1
            response: web.StreamResponse = _file_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; the URL is signed, send no Authorization",
            )
        elif request.match_info.http_exception is not None:
            response = _file_error(404, "NoSuchKey", "The specified key does not exist.")
        else:
            response = await handler(request)
        self.counters.responses[f"{route} {response.status}"] += 1
        return response

    def _carries_api_key(self, request: web.Request) -> bool:
        if not self._seen_keys:
            return False
        for value in (*request.headers.values(), *request.query.values()):
            # Whole tokens only: a short test key such as "k" must not match "keep-alive".
            if value in self._seen_keys or any(token in self._seen_keys for token in value.split()):
                return True
        return False

    def _check_signature(self, request: web.Request) -> web.StreamResponse | None:
        expires_raw = request.query.get("expires", "")
        sig = request.query.get("sig", "")
        if not expires_raw.isdigit() or not sig:
            return _file_error(403, "AccessDenied", "Missing or malformed signature parameters.")
        expected = self.sign(request.path, int(expires_raw))
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            return _file_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        if self.world.now() > int(expires_raw):
            return _file_error(403, "AccessDenied", "Request has expired.")
        return None

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_signature(request)
        if denied is not None:
            return denied
        name = request.match_info["name"]
        stem, _, ext = name.rpartition(".")
        image = self.world.visible_image(stem) if ext == "png" else None
        if image is not None:
            return await self._serve_png(request, stem, *image)
        video = self.world.visible_video(stem) if ext == "mp4" else None
        if video is not None:
            return await self._serve_video(request, stem, *video)
        return _file_error(404, "NoSuchKey", "The specified key does not exist.")

    async def _rendered(self, job: Job, index: int) -> tuple[bytes, bytes] | None:
        """(clip, last frame) of video ``index`` of ``job``, drawn from its request; None when rendering is
        off. Encoding takes tens of milliseconds: it runs in a thread, so other requests are not held up."""
        if not self.config.render_videos:
            return None
        try:
            generation = validate_generation(job.body)
            seconds, resolution = generation.seconds, generation.resolution
        except RequestInvalid:
            # Accepted under other rules (a job read back from an older state file): draw what the body says.
            seconds, resolution = requested_seconds(job.body), job.output_resolution
        picture = picture_for(job.body, seconds, resolution, index + 1, len(job.video_ids))
        return await asyncio.to_thread(render, picture)

    async def _serve_png(self, request: web.Request, image_id: str, job: Job, index: int) -> web.StreamResponse:
        rendered = await self._rendered(job, index)
        data = rendered[1] if rendered is not None else make_png(image_id)
        if request.method != "HEAD":
            self.counters.bytes_served += len(data)
        return web.Response(body=data, content_type="image/png")

    async def _serve_video(self, request: web.Request, video_id: str, job: Job, index: int) -> web.StreamResponse:
        rendered = await self._rendered(job, index)
        video = VideoFile(video_id, self.config.video_bytes, rendered[0] if rendered is not None else None)
        length = video.length
        try:
            span = parse_range(request.headers.get("Range"), length)
        except RangeNotSatisfiable:
            response: web.StreamResponse = _file_error(416, "InvalidRange", "The requested range is not satisfiable.")
            response.headers["Content-Range"] = f"bytes */{length}"
            return response
        start, end = span if span is not None else (0, length)
        response = web.StreamResponse(status=206 if span is not None else 200)
        response.content_type = "video/mp4"
        response.content_length = end - start
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["ETag"] = f'"{video_id}-{length}"'
        if span is not None:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        stop = end
        truncated = self.plan.fires("truncate") and end > start
        if truncated:
            self.counters.faults["truncate"] += 1
            stop = start + (end - start) // 2
        try:
            for chunk in video.iter_range(start, stop):
                await response.write(chunk)
                self.counters.bytes_served += len(chunk)
        except ConnectionResetError:
            return response
        if truncated:
            # Content-Length promised more: closing now is what a broken CDN connection looks like.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    async def _serve_playlist(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        video_id, _, ext = name.rpartition(".")
        if ext != "m3u8" or self.world.visible_video(video_id) is None:
            return _file_error(404, "NoSuchKey", "The specified key does not exist.")
        text = make_playlist(self.signed_url(f"/files/{video_id}.mp4"))
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")


class RangeNotSatisfiable(ValueError):
    """A Range header none of whose bytes exist in the file."""


def parse_range(header: str | None, length: int) -> tuple[int, int] | None:
    """The ``[start, end)`` a single-range ``Range`` header asks for, or None to send the whole file.

    Malformed headers and multi-range requests are ignored (RFC 9110 lets a server send 200 with everything);
    a well-formed range that starts past the end raises RangeNotSatisfiable (416).
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, dash, last = header[len("bytes=") :].strip().partition("-")
    if not dash:
        return None
    if first == "":
        if not last.isdigit():
            return None
        suffix = int(last)
        if suffix == 0 or length == 0:
            raise RangeNotSatisfiable(header)
        return max(0, length - suffix), length
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    end = int(last) + 1 if last else length
    if last and end <= start:
        return None
    if start >= length:
        raise RangeNotSatisfiable(header)
    return start, min(end, length)
