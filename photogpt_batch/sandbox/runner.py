"""Running the sandbox outside ``async with``: in a background thread, or in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import TextIO

from .config import SandboxConfig
from .counters import Counters
from .server import Sandbox
from .state import Job

_log = logging.getLogger(__name__)

#: Where aiohttp reports a request handler that raised ("Error handling request" and its traceback).
_SERVER_LOGGER = "aiohttp.server"


class _OnlyOtherThreads(logging.Filter):
    """Drops the records logged from one thread, keeping them at DEBUG on this module's logger.

    A thread's sandbox serves someone else's command (``run --sandbox``): a handler that raised already
    answers 500, which the client reports, so aiohttp's traceback would only garble that command's
    output. Keyed on the thread, so any other aiohttp server in the process still logs as before.
    """

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread_id:
            return True
        _log.debug("sandbox: %s", record.getMessage(), exc_info=record.exc_info)
        return False


@contextlib.contextmanager
def _handler_errors_hidden() -> Iterator[None]:
    """While inside: aiohttp's handler tracebacks logged from the current thread are not shown."""
    quiet = _OnlyOtherThreads(threading.get_ident())
    server_logger = logging.getLogger(_SERVER_LOGGER)
    server_logger.addFilter(quiet)
    try:
        yield
    finally:
        server_logger.removeFilter(quiet)


class SandboxThread:
    """A sandbox serving from its own event loop in a daemon thread, for synchronous callers.

    ``with SandboxThread(cfg) as sb: requests.get(sb.base_url + "/ping", ...)``. The attributes mirror
    ``Sandbox``; read ``counters`` and ``jobs`` freely, but change the sandbox only through ``call``.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        file_port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sandbox = Sandbox(config, host=host, port=port, file_port=file_port, ssl_context=ssl_context)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    def start(self, timeout: float = 10.0) -> SandboxThread:
        """Start serving; returns once both ports are bound (or raises what start raised)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            # Entered here, in the serving thread, so it lasts exactly as long as this thread serves.
            with _handler_errors_hidden():
                try:
                    await self.sandbox.start()
                except BaseException as exc:
                    failure.append(exc)
                    ready.set()
                    return
                ready.set()
                try:
                    await self._stopped.wait()
                finally:
                    await self.sandbox.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="photogpt-sandbox", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the sandbox did not start in time")
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end (idempotent)."""
        if self._thread is None or self._loop is None or self._stopped is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base URL."""
        return self.sandbox.base_url

    @property
    def files_url(self) -> str:
        """The file origin."""
        return self.sandbox.files_url

    @property
    def counters(self) -> Counters:
        """The sandbox's counters."""
        return self.sandbox.counters

    @property
    def jobs(self) -> dict[str, Job]:
        """The sandbox's jobs by jobId."""
        return self.sandbox.jobs


async def _serve(cfg: SandboxConfig, host: str, port: int, file_port: int, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        # SIGTERM (a supervisor, `kill`) ends the server as cleanly as Ctrl-C does.
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with Sandbox(cfg, host=host, port=port, file_port=file_port) as sb:
        print(f"PhotoGPT sandbox API:  {sb.base_url}", file=out, flush=True)
        print(f"PhotoGPT sandbox files: {sb.files_url}", file=out, flush=True)
        print(f"Counters: {sb.base_url.removesuffix('/api')}/_sandbox/counters", file=out, flush=True)
        key = "the configured --api-key" if cfg.api_key else "any non-empty key"
        print(
            f"Auth: 'Authorization: Bearer <key>' ({key}) and 'API-Version: 1'. Ctrl-C stops.",
            file=out,
            flush=True,
        )
        for model, group in sorted(cfg.accept_models.items()):
            print(f"Accepting model {model} (options.{group}; its options are not checked)", file=out, flush=True)
        await stop.wait()


def serve_forever(
    cfg: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8585,
    file_port: int = 0,
    out: TextIO | None = None,
) -> None:
    """Serve the sandbox in the foreground, printing its URLs, until Ctrl-C or SIGTERM (clean exit)."""
    stream = out if out is not None else sys.stdout
    # asyncio.run cancels the server task on Ctrl-C, which closes both origins, then raises KeyboardInterrupt.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg or SandboxConfig(), host, port, file_port, stream))
    print("PhotoGPT sandbox stopped.", file=stream, flush=True)
