"""The sandbox server: its two HTTP origins, the PhotoGPT API (`api_routes`) and a signed-URL file host
(`file_routes`), bound and served together; their shared state and addresses are `core`'s."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from .api_routes import ApiRoutes
from .file_routes import FileRoutes


class Sandbox(ApiRoutes, FileRoutes):
    """A local, faithful fake of the PhotoGPT video API: an API origin and a file origin on 127.0.0.1.

    Use ``async with Sandbox(cfg) as sb`` or ``await sb.start()`` / ``await sb.stop()``. Port 0 picks a free
    port. With ``ssl_context`` the API origin serves HTTPS (``base_url`` is ``https://``); the file origin stays
    plain HTTP, as a CDN's signed URLs may be.
    """

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
        for task in list(self._fetches):  # references still being fetched: the server is going away
            task.cancel()
        for runner in runners:
            if runner is not None:
                await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
