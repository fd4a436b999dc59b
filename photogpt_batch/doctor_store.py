"""``doctor``'s ``store`` check: the object store a campaign's local files are staged on (``--assets`` or
``$PHOTOGPT_BATCH_ASSETS``), probed as a run uses it.

The probe asks for an object that is not there (what a run does first for each file), writes a small object,
reads it back, signs a GET URL for it and fetches that URL without credentials, as the API will, then deletes
it. Each step that fails says what to do. No store configured is not a failure: only a campaign with local
files against the real API needs one.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping

from .assets.store import ASSETS_ENV, HOW_TO_CONFIGURE, Store, StoreError, open_store
from .doctor import Check

#: What the probe writes (and reads back through the signed URL).
PROBE = b"photogpt-batch doctor probe\n"
_CREDENTIALS = ("check the credentials the AWS tools would use (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or the machine's role)")


def check_store(assets: str | None, env: Mapping[str, str], sandbox: bool) -> Check:
    """The ``store`` check of the store ``assets`` (``--assets``), else ``env[PHOTOGPT_BATCH_ASSETS]``.

    The store's endpoint and credentials are read as boto3 reads them (the process's environment and AWS
    configuration files), not from ``env``."""
    address = (assets or env.get(ASSETS_ENV, "")).strip()
    if not address:
        own = "; run --sandbox stages them on the sandbox's own store" if sandbox else ""
        return Check("store", "ok", f"none configured: a spec's local files (file:) need one for the real "
                     f"API{own}", f"to use local files: {HOW_TO_CONFIGURE}")
    try:
        store = open_store(address)
    except ValueError as exc:
        return Check("store", "fail", str(exc), f"set {ASSETS_ENV} (or --assets) to s3://BUCKET/PREFIX")
    return asyncio.run(_probe(store))


async def _probe(store: Store) -> Check:
    """Look up, write, read back, sign and fetch, delete: the first step that fails is the verdict."""
    key = store.key(f"photogpt-batch-doctor-{secrets.token_hex(8)}.txt")
    where = store.location
    step = "look up an object"
    try:
        if await store.exists(key):  # a random name: only a store that answers yes to everything gets here
            return Check("store", "fail", f"{where}: says an object that was never written exists",
                         "check AWS_ENDPOINT_URL: it must be the store's S3 endpoint")
        step = "write"
        await store.put_bytes(key, PROBE, "text/plain")
        step = "read back"
        if await store.read(key) != PROBE:
            return Check("store", "fail", f"{where}: the object read back differs from the one written",
                         "check AWS_ENDPOINT_URL: something other than the store answers there")
        step = "sign"
        url = await store.presign(key, 300)
    except StoreError as exc:
        return Check("store", "fail", f"cannot {step}: {exc.message}", _advice(step, exc, store))
    fetched = await asyncio.to_thread(_fetch, url)
    if fetched != PROBE:
        why = fetched if isinstance(fetched, str) else "it served other content"
        return Check("store", "fail", f"{where}: a signed URL does not serve the object ({why})",
                     "check the clock (signatures expire), AWS_DEFAULT_REGION or AWS_REGION (the signature "
                     "names the region), and AWS_ENDPOINT_URL")
    try:
        await store.delete(key)
    except StoreError as exc:
        return Check("store", "warn", f"{where}: writes, reads back and signs; the probe {key} could not be "
                     f"deleted: {exc.message}", "delete it by hand; runs never delete, so they need no "
                     "s3:DeleteObject")
    return Check("store", "ok", f"{where}: writes, reads back and signs URLs the API can fetch")


def _advice(step: str, exc: StoreError, store: Store) -> str:
    """What to do when ``step`` failed."""
    if exc.refused:
        rights = {"look up an object": "s3:GetObject and s3:ListBucket (a missing object must be a 404)",
                  "write": "s3:PutObject", "read back": "s3:GetObject", "sign": "s3:GetObject"}[step]
        return f"{_CREDENTIALS}, and that they may use {rights} on {store.location}"
    return (f"check AWS_ENDPOINT_URL (the endpoint of a store that is not AWS), the network, and that the bucket "
            f"of {store.location} exists")


def _fetch(url: str) -> bytes | str:
    """GET ``url`` without credentials, as the API will: its body, or why it could not be read."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return str(exc)
