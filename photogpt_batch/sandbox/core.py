"""The sandbox's state and addresses, shared by its two origins: the config, the simulated world, the fault plan,
the counters, the URLs the origins listen on, and the signing of file URLs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import ssl

from aiohttp import web

from .config import Faults, SandboxConfig
from .counters import Counters
from .faults import FaultPlan
from .replies import API_PREFIX
from .state import Job, World


class SandboxCore:
    """What `Sandbox`'s API routes (`ApiRoutes`) and file routes (`FileRoutes`) share; see `Sandbox`."""

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
        self._fetches: set[asyncio.Task[None]] = set()  # jobs' references being fetched (`references`)
        #: The sandbox's own object store (``/store/...``): staged files by name, with their content type.
        self.stored: dict[str, tuple[bytes, str]] = {}
        self._api_runner: web.AppRunner | None = None
        self._file_runner: web.AppRunner | None = None

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
