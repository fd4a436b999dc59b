"""The sandbox's file origin: signed, expiring URLs as an object store or CDN serves them (``/files/...``: videos
with byte ranges, images; ``/hls/...``: playlists), refusing any request that carries credentials."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from .core import SandboxCore
from .media import VideoFile, make_playlist, make_png
from .picture import picture_for, render, requested_seconds
from .replies import Handler, file_error, route_key
from .state import Job
from .validation import RequestInvalid, validate_generation


class FileRoutes(SandboxCore):
    """The file origin's application (`_file_app`) and its handlers."""

    def _file_app(self) -> web.Application:
        app = web.Application(middlewares=[self._file_middleware])
        app.router.add_get("/files/{name}", self._serve_file)
        app.router.add_get("/hls/{name}", self._serve_playlist)
        # The sandbox's own object store, which `run --sandbox` stages local files on when no store is
        # configured: PUT and HEAD as a store's API, GET only with a signed URL (`signed_url("/store/NAME")`).
        app.router.add_put("/store/{name}", self._store_put)
        app.router.add_route("HEAD", "/store/{name}", self._store_head)
        app.router.add_get("/store/{name}", self._store_get, allow_head=False)
        return app

    async def _store_put(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        self.stored[request.match_info["name"]] = (data, request.content_type or "application/octet-stream")
        return web.Response(status=200)

    async def _store_head(self, request: web.Request) -> web.StreamResponse:
        found = self.stored.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        return web.Response(status=200, headers={"Content-Length": str(len(found[0]))})

    async def _store_get(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_signature(request)
        if denied is not None:
            return denied
        found = self.stored.get(request.match_info["name"])
        if found is None:
            return file_error(404, "NoSuchKey", "The specified key does not exist.")
        self.counters.bytes_served += len(found[0])
        return web.Response(body=found[0], content_type=found[1])

    @web.middleware
    async def _file_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_key(request)
        self.counters.requests[route] += 1
        if "Authorization" in request.headers or self._carries_api_key(request):
            # Signed object-store URLs refuse a second authentication mechanism; counted so tests can prove
            # the client never sends its key here.
            self.counters.credentialed_file_requests += 1
            response: web.StreamResponse = file_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; the URL is signed, send no Authorization",
            )
        elif request.match_info.http_exception is not None:
            response = file_error(404, "NoSuchKey", "The specified key does not exist.")
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
            return file_error(403, "AccessDenied", "Missing or malformed signature parameters.")
        expected = self.sign(request.path, int(expires_raw))
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            return file_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        if self.world.now() > int(expires_raw):
            return file_error(403, "AccessDenied", "Request has expired.")
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
        return file_error(404, "NoSuchKey", "The specified key does not exist.")

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
        picture = picture_for(job.body, seconds, resolution, index + 1, len(job.video_ids), job.first_frame)
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
            response: web.StreamResponse = file_error(416, "InvalidRange", "The requested range is not satisfiable.")
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
            return file_error(404, "NoSuchKey", "The specified key does not exist.")
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
