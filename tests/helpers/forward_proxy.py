"""A small, real HTTP forward proxy on 127.0.0.1 for tests: plain requests in absolute form, and CONNECT tunnels.

It records what it could read of each request (method, target, headers): for a tunnel that is only the
CONNECT request, since what goes through the tunnel is TLS. Every connection carries one request (the
proxy asks for ``Connection: close``), so the records count requests exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from yarl import URL


@dataclass
class Seen:
    """One request as the proxy read it."""

    method: str
    target: str
    headers: dict[str, str]


@dataclass
class ForwardProxy:
    """``async with ForwardProxy() as proxy``: ``proxy.url`` to put in HTTP(S)_PROXY, ``proxy.seen`` to check."""

    seen: list[Seen] = field(default_factory=list)
    require_auth: str | None = None  # a Proxy-Authorization value the proxy insists on
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    def plain(self) -> list[Seen]:
        """The requests the proxy could read in full (not CONNECT)."""
        return [s for s in self.seen if s.method != "CONNECT"]

    def tunnels(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "CONNECT"]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines if line)
        self.seen.append(Seen(method, target, headers))
        if self.require_auth is not None and headers.get("Proxy-Authorization") != self.require_auth:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            url = URL(target)
            upstream_reader, upstream_writer = await asyncio.open_connection(url.host, url.port)
            kept = [f"{k}: {v}" for k, v in headers.items()
                    if k.lower() not in ("connection", "proxy-connection", "proxy-authorization", "keep-alive")]
            origin_form = url.raw_path_qs or "/"
            upstream_writer.write("\r\n".join([f"{method} {origin_form} {version}", *kept, "Connection: close",
                                               "", ""]).encode("latin-1"))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
