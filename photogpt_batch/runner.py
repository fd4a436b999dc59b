"""``run`` as a library call: configuration, the sandbox, the client, the ledger, signals, the summary.

`run_campaign` is what the CLI's ``run`` calls and what a Python user calls; it raises `ConfigError` for
anything that stops a run before a request is sent (no key, a locked or foreign ledger, a refused key).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from . import campaign_index
from .assets.body import takes_outputs
from .assets.staging import Stager
from .assets.store import HOW_TO_CONFIGURE, URL_TTL_SECONDS, Store, StoreError, open_store, store_address
from .campaign import Campaign
from .client import DEFAULT_BASE_URL, ApiError, AuthError, PhotoGPTClient, check_base_url
from .engine import Engine, EngineOptions, RunSummary
from .engine.credits import collect_credits, lacking_credits
from .engine.progress import Progress
from .engine.schedule import refuse_unmet_left_out
from .errors import ConfigError as ConfigError  # re-exported: callers catch it from here too
from .io.durable import describe
from .ledger import Ledger, LedgerError, LedgerUnavailable, LedgerWriteFailed
from .ledger.transfer import moved_refusal
from .net.network import Network
from .ownership import SANDBOX_JOBS, FolderClaimed, claim_folder, endpoint_of

API_KEY_ENV = "PHOTOGPT_API_KEY"
BASE_URL_ENV = "PHOTOGPT_BASE_URL"


@dataclass
class RunConfig:
    """Where to send requests and how hard to push."""

    base_url: str | None = None  # default: $PHOTOGPT_BASE_URL, else production
    api_key: str | None = None  # default: $PHOTOGPT_API_KEY
    sandbox: bool = False  # start a local sandbox in-process and use it (no key needed)
    requests_per_second: float = 10.0
    engine: EngineOptions | None = None
    #: The shared ledger's postgresql:// URL (`ledger.ledger_url` reads ``--ledger`` or the environment);
    #: ``None``: the output folder's own SQLite ledger.
    ledger_url: str | None = None
    #: Start the campaign from scratch even though another folder on this machine holds its paid jobs.
    fresh: bool = False
    # With ``sandbox``: models it should accept though it does not know them, {model id: option group}.
    sandbox_accepts: dict[str, str] = field(default_factory=dict)
    #: The object store for local reference files (``--assets``); default: $PHOTOGPT_BATCH_ASSETS.
    assets: str | None = None
    #: How long the URLs signed for local files live, in seconds.
    url_ttl_seconds: int = URL_TTL_SECONDS
    #: A store object to stage local files on, instead of the one ``assets`` names (library callers, tests).
    store: Store | None = None

    def endpoint(self) -> str:
        """What the ledger records for this run's API (see `ownership.endpoint_of`)."""
        return endpoint_of(None if self.sandbox else self.base_url or os.environ.get(BASE_URL_ENV), self.sandbox)


def _refuse_a_fresh_start(campaign: Campaign, ledger: Ledger, endpoint: str) -> None:
    """Raise `ConfigError` when this run would submit ``campaign`` from scratch into an empty folder while
    another folder on this machine holds its paid jobs (the campaign run from elsewhere, by mistake)."""
    if ledger.anything_sent():
        return
    elsewhere = campaign_index.paid_elsewhere(campaign.name, endpoint, campaign.output)
    if elsewhere is not None and ledger.shared:
        raise ConfigError(
            f"campaign {campaign.name!r} has paid jobs in {elsewhere} on this machine, and the shared ledger "
            f"{ledger.location} has none of them: this run would pay for every job again. Copy that folder's ledger "
            f"there first: photogpt-batch ledger push SPEC --output {elsewhere}; to start over on purpose, add "
            "--fresh. Nothing was sent")
    if elsewhere is not None:
        raise ConfigError(
            f"campaign {campaign.name!r} already has paid jobs in {elsewhere}, and {campaign.output} has none: "
            f"this run would pay for every job again. To go on with it there, use --output {elsewhere} (or run "
            "from where its spec's output points there); to start over on purpose, add --fresh. Nothing was sent")



def _stages_files(campaign: Campaign) -> bool:
    """Whether a run of the campaign stages files on a store: its local files (``file:``), or other jobs' outputs
    (``from:``), which need the store just the same."""
    return bool(campaign.assets) or any(takes_outputs(job.body) for job in campaign.jobs)


def _configured_store(campaign: Campaign, config: RunConfig) -> Store | None:
    """The store the campaign's local files go to: the configured one; None when the campaign has none, or
    with ``sandbox`` and none configured (the sandbox's own store is used). `ConfigError` when the campaign
    has local files and a real API but no store: nothing is sent."""
    if not _stages_files(campaign):
        return None
    if config.store is not None:
        return config.store
    address = store_address(config.assets)
    if address is None:
        if config.sandbox:
            return None
        what = f"references {len(campaign.assets)} local file(s)" if campaign.assets else \
            "takes other jobs' outputs as inputs (from:)"
        raise ConfigError(f"the campaign {what}, and no object store is configured to stage them for the API: "
                          f"{HOW_TO_CONFIGURE}; nothing was sent")
    try:
        return open_store(address)
    except ValueError as exc:
        raise ConfigError(f"{exc}; nothing was sent") from exc


@contextlib.contextmanager
def _api_endpoint(config: RunConfig, output: Path, fetch_references: bool = False
                  ) -> Iterator[tuple[str, str, Network, Store | None]]:
    """(base URL, key, proxies and CA certificates, the sandbox's own store) for the run; with ``sandbox``, a
    sandbox serving for the duration of the block, reached directly (it is in this process: no proxy stands
    between), which fetches the jobs' references as the API does when ``fetch_references``."""
    if config.sandbox:
        from .assets.sandbox_store import SandboxStore
        from .sandbox import SandboxConfig, SandboxThread

        with SandboxThread(SandboxConfig.quick(state_file=output / SANDBOX_JOBS, fetch_references=fetch_references,
                                                   accept_models=dict(config.sandbox_accepts))) as sandbox:
            store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
            yield sandbox.base_url, "sandbox-key", Network.direct(), store
        return
    key = (config.api_key or os.environ.get(API_KEY_ENV, "")).strip()
    if not key:
        raise ConfigError(f"no API key: set {API_KEY_ENV} (or use --sandbox to try the campaign locally)")
    if not (key.isascii() and key.isprintable()):
        # An HTTP header cannot carry them; a key pasted with a line break inside is the usual cause.
        raise ConfigError(f"{API_KEY_ENV} contains control or non-ASCII characters; check it was copied whole")
    base_url = config.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        check_base_url(base_url)
    except ValueError as exc:
        raise ConfigError(f"{BASE_URL_ENV}: {exc}") from exc
    try:
        network = Network.from_environment()
        network.check_api(URL(base_url))
    except ValueError as exc:  # a proxy or CA setting that cannot work
        raise ConfigError(f"{exc}; nothing was sent") from exc
    yield base_url, key, network, None


def _open_for_run(campaign: Campaign, config: RunConfig) -> Ledger:
    """The campaign's ledger (its output folder's, or the shared one at ``config.ledger_url``), opened (and
    locked) for writing; `ConfigError` when it cannot be."""
    output = campaign.output
    try:
        ledger = Ledger.open_for_run(output, url=config.ledger_url, campaign=campaign.name)
    except LedgerError as exc:
        raise ConfigError(str(exc)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot use the output folder {output}: {exc.strerror or exc}") from exc
    refusal = moved_refusal(ledger)  # `ledger push` / `pull` moved the campaign: one campaign, one ledger
    if refusal is not None:
        ledger.close()
        raise ConfigError(refusal)
    return ledger


@contextlib.asynccontextmanager
async def _answering_client(base_url: str, key: str, network: Network, config: RunConfig, tail: str = ""
                            ) -> AsyncIterator[PhotoGPTClient]:
    """A client whose ``GET /ping`` has answered; `ConfigError` (ending with ``tail``) for a refused key or an
    API that cannot be reached."""
    async with PhotoGPTClient(base_url, key, requests_per_second=config.requests_per_second,
                              network=network) as client:
        try:
            await client.ping()
        except AuthError as exc:
            raise ConfigError(f"the API refused the key ({exc.message}){tail}") from exc
        except ApiError as exc:
            raise ConfigError(f"cannot reach the API at {base_url}: {exc}{tail}") from exc
        yield client


def run_campaign(campaign: Campaign, config: RunConfig | None = None, progress: Progress | None = None,
                 install_signal_handlers: bool = True) -> RunSummary:
    """Make ``campaign.output`` match the campaign; resumes whatever an earlier run left.

    Ctrl-C (SIGINT) or SIGTERM stops the run cleanly: nothing new is sent, what was sent is recorded, and the
    summary has ``interrupted`` set. Raises `ConfigError` when nothing could be started.
    """
    config = config or RunConfig()
    output = campaign.output
    store = _configured_store(campaign, config)
    ledger = _open_for_run(campaign, config)
    try:
        if not config.fresh:
            _refuse_a_fresh_start(campaign, ledger, config.endpoint())
        refuse_unmet_left_out(campaign, ledger.iter_jobs)  # a page at a time
        staging = _stages_files(campaign)
        with _api_endpoint(config, output, staging) as (base_url, key, network, sandbox_store):
            store = store or sandbox_store
            stager = Stager(store, campaign.assets, config.url_ttl_seconds) if store and staging else None
            return asyncio.run(_run(campaign, ledger, base_url, key, network, config, progress,
                                    install_signal_handlers, stager))
    finally:
        ledger.close()


async def _run(campaign: Campaign, ledger: Ledger, base_url: str, key: str, network: Network, config: RunConfig,
               progress: Progress | None, install_signal_handlers: bool, stager: Stager | None) -> RunSummary:
    options = config.engine or EngineOptions()
    try:
        async with _answering_client(base_url, key, network, config, "; nothing was sent") as client:
            upload = await _check_store(stager)
            # Only now that the API has answered: a mistyped URL must not hold the folder to itself.
            endpoint = endpoint_of(None if config.sandbox else base_url, config.sandbox)
            try:
                warning = claim_folder(ledger, campaign.output, campaign.name, endpoint)
            except FolderClaimed as exc:
                raise ConfigError(str(exc)) from exc
            campaign_index.remember(campaign.name, endpoint, campaign.output)
            engine = Engine(campaign, ledger, client, options, progress, stager)
            for note in (ledger.warning, warning, upload):  # a stale shared lock taken over; a folder's move
                if note:
                    engine.progress.note(note)
            loop = asyncio.get_running_loop()
            handled = []
            if install_signal_handlers:
                # SIGHUP: the terminal or SSH session went away; stop cleanly rather than die mid-POST.
                received: list[signal.Signals] = []
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(sig, _on_signal, engine, loop, sig, received)
                        handled.append(sig)
            try:
                summary = await engine.run()
            except LedgerUnavailable as exc:  # the shared ledger went away, or this run lost its lock
                raise ConfigError(f"{exc}; nothing more was sent, and what was recorded is kept") from exc
            except LedgerWriteFailed as exc:  # in preparing the run: only reads were sent
                raise ConfigError(f"{exc}, and run again; nothing was sent, and what was "
                                  "recorded is kept") from exc
            finally:
                for sig in handled:
                    loop.remove_signal_handler(sig)
            if campaign.sequences and not summary.interrupted:
                _write_sequences(campaign, ledger, engine.progress)
            # A run that fetched no file keeps a page its fingerprint finds up to date (`review.page_stamp`).
            _write_review_page(campaign, ledger, engine.progress, reuse=not engine.ctx.files_changed)
            return summary
    finally:
        await ledger.aclose()


async def _check_store(stager: Stager | None) -> str | None:
    """What the run will upload (``3 file(s), 4.2 MB to upload to s3://...``), asked of the store before
    anything is sent to the API; `ConfigError` when the store refuses the credentials or cannot be reached."""
    if stager is None:
        return None
    try:
        plan = await stager.check()
    except StoreError as exc:
        why = "the object store refused the credentials" if exc.refused else "the object store cannot be used"
        raise ConfigError(f"{why}: {exc.message}; nothing was sent") from exc
    return plan.describe()


def _write_sequences(campaign: Campaign, ledger: Ledger, progress: Progress) -> None:
    """Join the videos of each sequence whose jobs are all done and that changed, then list them in the manifest.
    A sequence is a view of paid videos: one that cannot be written is a warning, never a failed run."""
    from .engine.download import write_manifest
    from .sequences.build import build_sequences

    if build_sequences(campaign.output, campaign.sequences, ledger.manifest_entries(), progress.note):
        try:
            write_manifest(campaign.output, ledger, campaign.sequences)
        except OSError as exc:
            progress.note(f"warning: the manifest was not rewritten with the sequences: {describe(exc)}")


def _write_review_page(campaign: Campaign, ledger: Ledger, progress: Progress, reuse: bool = False) -> None:
    """Rewrite ``<output>/index.html`` (the review page) from the run's ledger; with ``reuse``, unless it is up to
    date. The page is a view of what the run did: failing to write it is a warning, never a failed run."""
    from .review import ReviewPageError, write_review_page

    try:
        write_review_page(campaign, ledger, reuse=reuse)
    except ReviewPageError as exc:
        progress.note(f"warning: the review page was not written: {exc}")
def refresh_credits(campaign: Campaign, config: RunConfig | None = None) -> int:
    """Ask ``GET /jobs`` for the credits of every finished job of the campaign's ledger that lacks them and
    record them (``status --refresh``); returns how many were recorded. Sends no job. Raises `ConfigError`
    when the ledger or the API cannot be used (a run holds the folder, no key)."""
    config = config or RunConfig()
    ledger = _open_for_run(campaign, config)
    try:
        if not lacking_credits(ledger):
            return 0
        with _api_endpoint(config, campaign.output) as (base_url, key, network, _store):
            return asyncio.run(_refresh(ledger, base_url, key, network, config))
    finally:
        ledger.close()


async def _refresh(ledger: Ledger, base_url: str, key: str, network: Network, config: RunConfig) -> int:
    try:
        async with _answering_client(base_url, key, network, config) as client:
            return await collect_credits(ledger, client)
    finally:
        await ledger.aclose()


def _on_signal(engine: Engine, loop: asyncio.AbstractEventLoop, sig: signal.Signals,
               received: list[signal.Signals]) -> None:
    """First signal: stop cleanly. Second: stop now, without waiting for POSTs on the wire (`Engine.abort`).
    A third gets the default action (KeyboardInterrupt); the ledger is consistent whatever happens.

    Counted here, not read from `Engine.stopping`: the engine may have stopped itself (a refused key), and
    the user's first Ctrl-C must still let the POSTs on the wire record their jobIds."""
    received.append(sig)
    if len(received) == 1:
        engine.stop()
        on_the_wire = engine.submissions_in_flight
        engine.progress.note("stopping: nothing new is sent" + (
            f"; waiting for the answer to {on_the_wire} submission(s) already sent (Ctrl-C again to stop at "
            "once: they are then in doubt)" if on_the_wire else ""))
        return
    engine.progress.note("stopping at once")
    engine.abort()
    loop.remove_signal_handler(sig)
