"""``doctor`` as a library call: check what a run depends on, each check with a verdict and what to do.

`diagnose` returns `Check` records in a fixed order: the base URL, the proxy, the CA certificates, the API
(``GET /ping``: reachable, the key, the ``API-Version`` header, the clock against the server's ``Date``), the
plugins and their warnings, the object store for local files, and, for a campaign, its ledger and the free
disk in its output folder. It sends one request to the API (the ping) and writes nothing but what opening a
ledger for a run writes (its lock file; an older ledger is upgraded as any command would) and, when a store is
configured, a small probe object on it, which it deletes. A shared ledger (``ledger_url``) is only read: where it is,
whether it answers, and who holds the campaign's run lock.

A verdict is ``ok``, ``warn`` (works, but look) or ``fail`` (a run would not work, or not well); `healthy` is
true when nothing failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from yarl import URL

from .campaign import Campaign
from .client import (
    DEFAULT_BASE_URL,
    ApiError,
    AuthError,
    BadRequest,
    PhotoGPTClient,
    ProtocolError,
    check_base_url,
)
from .net.network import CA_DIR_VARIABLE, CA_FILE_VARIABLE, Network, NetworkSettingError
from .net.retry import RetryPolicy
from .plugins import Registry, get_registry
from .runner import API_KEY_ENV, BASE_URL_ENV

Verdict = Literal["ok", "warn", "fail"]

API_VERSION = "1"
#: Clock offsets (seconds) against the server's Date above which the clock check warns, then fails.
CLOCK_WARN, CLOCK_FAIL = 5.0, 300.0
#: Free space: below DISK_FAIL bytes a run cannot hold a video; a campaign wants about BYTES_PER_VIDEO each.
DISK_FAIL = 100 * 2**20
BYTES_PER_VIDEO = 30 * 2**20
PING_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    """One finding: its ``name``, ``verdict``, what was found (``summary``), and what to do (``advice``)."""

    name: str
    verdict: Verdict
    summary: str
    advice: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this check."""
        return {"name": self.name, "verdict": self.verdict, "summary": self.summary, "advice": self.advice,
                "details": list(self.details)}


def healthy(checks: list[Check]) -> bool:
    """True when no check failed (warnings pass)."""
    return all(check.verdict != "fail" for check in checks)


def diagnose(campaign: Campaign | None = None, *, sandbox: bool = False, environ: Mapping[str, str] | None = None,
             registry: Registry | None = None, ledger_url: str | None = None, assets: str | None = None
             ) -> list[Check]:
    """Check the configuration in ``environ`` (default ``os.environ``), the API it points at (or, with
    ``sandbox``, an in-process sandbox), the plugins, the object store for local files (``assets``, else
    ``$PHOTOGPT_BATCH_ASSETS``: `doctor_store.check_store`), and ``campaign``'s ledger (the output folder's, or
    the shared one at ``ledger_url``) and disk when one is given."""
    env = os.environ if environ is None else environ
    checks: list[Check] = []
    with _endpoint(env, sandbox) as (base_url, key):
        base = _check_base_url(checks, base_url, env, sandbox)
        network = _check_network(checks, base, env, sandbox)
        if base is not None and network is not None:
            checks.extend(_check_api(base, key, network, sandbox))
    checks.extend(_check_plugins(registry or get_registry()))
    from .doctor_store import check_store  # imports this module's Check

    checks.append(check_store(assets, env, sandbox))
    if campaign is not None:
        checks.append(check_ledger(campaign.output) if ledger_url is None
                      else check_shared_ledger(campaign.output, ledger_url, campaign.name))
        checks.append(_check_disk(campaign.output, sum(job.num_videos for job in campaign.jobs)))
    return checks


@contextlib.contextmanager
def _endpoint(env: Mapping[str, str], sandbox: bool) -> Iterator[tuple[str, str | None]]:
    """(base URL, key) to check; with ``sandbox``, an in-process sandbox serving for the duration."""
    if sandbox:
        from .sandbox import SandboxConfig, SandboxThread

        with SandboxThread(SandboxConfig.quick()) as thread:
            yield thread.base_url, "sandbox-key"
        return
    yield env.get(BASE_URL_ENV) or DEFAULT_BASE_URL, env.get(API_KEY_ENV, "").strip() or None


def _check_base_url(checks: list[Check], base_url: str, env: Mapping[str, str], sandbox: bool) -> URL | None:
    if sandbox:
        checks.append(Check("base-url", "ok", f"{base_url} (the in-process sandbox)"))
        return URL(base_url)
    try:
        base = check_base_url(base_url)
    except ValueError as exc:
        checks.append(Check("base-url", "fail", f"{BASE_URL_ENV}: {exc}",
                            f"set {BASE_URL_ENV} to the API's base URL, or unset it for {DEFAULT_BASE_URL}"))
        return None
    source = "from " + BASE_URL_ENV if env.get(BASE_URL_ENV) else "the default"
    if base.scheme == "http" and not _is_loopback(base):
        checks.append(Check("base-url", "warn", f"{base} ({source}) is plain http: the key travels unencrypted",
                            "use the https:// URL"))
    else:
        checks.append(Check("base-url", "ok", f"{base} ({source})"))
    return base


def _is_loopback(url: URL) -> bool:
    host = url.host or ""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


def _check_network(checks: list[Check], base: URL | None, env: Mapping[str, str], sandbox: bool) -> Network | None:
    """The proxy and certificates checks; the Network to ping with (None when the settings cannot work)."""
    if sandbox:
        checks.append(Check("proxy", "ok", "none: the in-process sandbox is never proxied"))
        checks.append(Check("certificates", "ok", "not used: the in-process sandbox speaks plain http"))
        return Network.direct()
    try:
        network = Network.from_environment(env)
    except NetworkSettingError as exc:
        about_certificates = exc.variable in (CA_FILE_VARIABLE, CA_DIR_VARIABLE)
        checks.append(Check("certificates" if about_certificates else "proxy", "fail", str(exc),
                            f"fix or unset {exc.variable}"))
        return None
    proxy = _proxy_check(network, base)
    checks.append(proxy)
    extra = [f"{CA_FILE_VARIABLE}={network.ca_file}" if network.ca_file else "",
             f"{CA_DIR_VARIABLE}={network.ca_dir}" if network.ca_dir else ""]
    shown = ", ".join(filter(None, extra))
    checks.append(Check("certificates", "ok", f"the system's CA certificates{', plus ' + shown if shown else ''}"))
    return None if proxy.verdict == "fail" else network


def _proxy_check(network: Network, base: URL | None) -> Check:
    details = tuple(f"{scheme}:// URLs: via {proxy}" for scheme, proxy in sorted(network.proxies.items()))
    if network.no_proxy:
        details += (f"NO_PROXY: {', '.join(network.no_proxy)}",)
    if base is None:
        return Check("proxy", "ok", "not checked for the API (its URL is wrong)", details=details)
    try:
        network.check_api(base)
    except ValueError as exc:
        return Check("proxy", "fail", str(exc), f"use an https:// API URL, or add {base.host} to NO_PROXY",
                     details)
    proxy = network.proxy_for(base)
    downloads = network.proxy_for(URL("https://files.example"))  # file hosts are other https hosts
    summary = f"the API: via {proxy}" if proxy else "the API: direct (no proxy applies)"
    summary += f"; downloads: via {downloads.url}" if downloads else "; downloads: direct"
    return Check("proxy", "ok", summary, details=details)


def _check_api(base: URL, key: str | None, network: Network, sandbox: bool) -> list[Check]:
    """``GET /ping`` once: is the API reachable, does it take the key and the version, how far is its clock."""
    if key is not None and not (key.isascii() and key.isprintable()):
        return [Check("key", "fail", f"{API_KEY_ENV} contains control or non-ASCII characters",
                      "copy the key again, whole, without line breaks")]
    outcome, elapsed, client = asyncio.run(_ping(base, key, network))
    not_checked = "not checked: the API did not answer"
    if isinstance(outcome, ApiError) and not isinstance(outcome, AuthError | BadRequest):
        advice = _api_advice(outcome)
        key_check = _key_check(outcome, key, sandbox) if key is None else Check("key", "warn", not_checked)
        return [Check("api", "fail", f"cannot use the API at {base}: {outcome}", advice), key_check,
                Check("api-version", "warn", not_checked), Check("clock", "warn", not_checked)]
    checks = [Check("api", "ok", f"{base} answered in {elapsed * 1000:.0f} ms")]
    checks.append(_key_check(outcome, key, sandbox))
    checks.append(_version_check(outcome, client.server_api_version))
    checks.append(_clock_check(client.server_clock_offset))
    return checks


def _api_advice(failure: ApiError) -> str:
    """What to do when the ping got no usable answer: the network, the URL, or patience."""
    if failure.status is None and not isinstance(failure, ProtocolError):
        return f"check the network, {BASE_URL_ENV} and the proxy (HTTPS_PROXY, NO_PROXY)"
    if failure.status is not None and failure.status >= 500:
        return "the API (or a proxy in front of it) is failing: try again later"
    return f"check {BASE_URL_ENV}: it is the API's base URL, ending in /api"


async def _ping(base: URL, key: str | None, network: Network) -> tuple[Any, float, PhotoGPTClient]:
    client = PhotoGPTClient(str(base), key, timeout=PING_TIMEOUT, connect_timeout=PING_TIMEOUT / 2,
                            requests_per_second=None, retry=RetryPolicy(attempts=1), network=network)
    started = time.monotonic()
    async with client:
        try:
            outcome: Any = await client.ping()
        except ApiError as exc:
            outcome = exc
    return outcome, time.monotonic() - started, client


def _key_check(outcome: Any, key: str | None, sandbox: bool) -> Check:
    if sandbox:
        return Check("key", "ok", "the in-process sandbox takes any key")
    if key is None:
        return Check("key", "fail", f"{API_KEY_ENV} is not set",
                     f"export {API_KEY_ENV}=<your key>, or rehearse with --sandbox (no key needed)")
    if isinstance(outcome, AuthError):
        return Check("key", "fail", f"the API refused the key: {outcome}",
                     f"check {API_KEY_ENV}: copy the key again from your PhotoGPT account")
    if isinstance(outcome, BadRequest):
        return Check("key", "warn", "not confirmed: the API refused the request before looking at the key")
    return Check("key", "ok", "the API accepted the key")


def _version_check(outcome: Any, answered: str | None) -> Check:
    if isinstance(outcome, AuthError):
        return Check("api-version", "warn", "not checked: the API refused the key first")
    if isinstance(outcome, BadRequest):
        return Check("api-version", "fail", f"the API refused a ping sent with API-Version: {API_VERSION}: {outcome}",
                     "upgrade photogpt-batch (pip install -U photogpt-batch): the API may have moved on")
    if answered is not None and answered.strip() != API_VERSION:
        return Check("api-version", "warn",
                     f"the API answers with API-Version: {answered.strip()}; photogpt-batch speaks {API_VERSION}",
                     "upgrade photogpt-batch if requests start failing")
    return Check("api-version", "ok", f"the API takes API-Version: {API_VERSION}")


def _clock_check(offset: float | None) -> Check:
    if offset is None:
        return Check("clock", "warn", "the API's answer has no Date header: the clocks cannot be compared",
                     "nothing to do here; a submission left in doubt is then not settled automatically")
    ahead = f"{abs(offset):.1f} s {'behind' if offset > 0 else 'ahead of'} the API's"
    summary = f"this machine's clock is {ahead}"
    if abs(offset) <= CLOCK_WARN:
        return Check("clock", "ok", summary)
    advice = "synchronise the clock (e.g. timedatectl set-ntp true); signed download URLs and TLS depend on it"
    return Check("clock", "warn" if abs(offset) <= CLOCK_FAIL else "fail", summary, advice)


def _check_plugins(registry: Registry) -> list[Check]:
    by_plugin: dict[str, list[str]] = {}
    for model_id in registry.ids():
        by_plugin.setdefault(registry.models[model_id].plugin or "?", []).append(model_id)
    details = tuple(f"{plugin}: {', '.join(models)}" for plugin, models in sorted(by_plugin.items()))
    if not by_plugin:
        plugins = Check("plugins", "fail", "no models: no plugin registered any",
                        "reinstall photogpt-batch; check PHOTOGPT_BATCH_PLUGINS if it is set")
    else:
        plugins = Check("plugins", "ok", f"{len(by_plugin)} plugins, {len(registry.models)} models", details=details)
    if not registry.warnings:
        return [plugins, Check("plugin-warnings", "ok", "none")]
    count = len(registry.warnings)
    return [plugins, Check("plugin-warnings", "warn", f"{count} warning{'s' * (count != 1)} while loading plugins",
                           "fix or uninstall the plugins named (their models are missing meanwhile)",
                           tuple(registry.warnings))]


def check_ledger(output: Path) -> Check:
    """The ledger of the output folder ``output``: where it is, whether a run could open it, who holds its lock.

    Uses only the ledger's public API: opening it for a run is what ``run`` does first (lock, schema, contents,
    a write probe), so whatever would stop a run is found here, and closing it at once releases the lock.
    """
    from .ledger import Ledger, LedgerError, LedgerLocked, ledger_path

    path = ledger_path(output)
    if not path.exists():
        return Check("ledger", "ok", f"none yet at {path}: the first run creates it")
    try:
        Ledger.open_for_run(output).close()
    except LedgerLocked as exc:
        holder = f"process {exc.pid}" if exc.pid else "another process"
        return Check("ledger", "warn", f"{path}: in use by a run ({holder})",
                     "wait for that run to finish (or stop it) before starting another")
    except (LedgerError, OSError) as exc:
        return Check("ledger", "fail", f"{path}: {exc}", "see the message; the ledger was left as it is")
    with Ledger.open_for_reading(output) as ledger:
        jobs = sum(ledger.counts()["jobs"].values())  # counted by the store, not read
    return Check("ledger", "ok", f"{path}: opens for a run, {jobs} job version{'s' * (jobs != 1)} recorded, not locked")


def check_shared_ledger(output: Path, url: str, campaign: str) -> Check:
    """The shared ledger at ``url`` for ``campaign``: where it is (the URL without its password), whether it can
    be read, and who holds the campaign's run lock. Only reads: taking the lock of a shared campaign to probe it
    could stop a colleague's run from starting."""
    from .ledger import LedgerError, redact, where_and_holder

    try:
        where, holder = where_and_holder(output, url, campaign)
    except LedgerError as exc:  # its message names the URL without the password and says what to do
        return Check("ledger", "fail", str(exc), "fix --ledger / $PHOTOGPT_BATCH_LEDGER (the password belongs in "
                     "PGPASSWORD or ~/.pgpass), or check that the server runs and accepts this machine")
    except OSError as exc:
        return Check("ledger", "fail", f"cannot read the shared ledger {redact(url)}: {exc.strerror or exc}")
    if holder is None:
        return Check("ledger", "ok", f"{where}: readable, not locked")
    if holder.stale:
        return Check("ledger", "warn", f"{where}: locked by {holder.describe()}",
                     "a run takes a stale lock over by itself; `photogpt-batch ledger unlock SPEC` breaks it now")
    return Check("ledger", "warn", f"{where}: in use by a run ({holder.describe()})",
                 "wait for that run to finish (or stop it) before starting another")


def _check_disk(output: Path, videos: int) -> Check:
    folder = output.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folder is created by the first run: measure where it will be
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check("disk", "fail", f"cannot measure the free space at {folder}: {exc}")
    wanted = videos * BYTES_PER_VIDEO
    summary = f"{_size(free)} free at {folder}; the campaign's {videos} videos may take about {_size(wanted)}"
    if free < DISK_FAIL:
        return Check("disk", "fail", summary, "free some space, or choose another --output")
    if free < wanted:
        return Check("disk", "warn", summary, "free some space before the run, or choose another --output")
    return Check("disk", "ok", summary)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
