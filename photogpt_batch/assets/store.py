"""Where local reference files are staged: the `Store` interface, its errors, and the store's address
(``PHOTOGPT_BATCH_ASSETS`` or ``--assets``: ``s3://bucket/prefix``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

ASSETS_ENV = "PHOTOGPT_BATCH_ASSETS"
#: How long a signed URL lives: the API fetches a reference when the job starts, which can be hours after the
#: POST while it is queued (S3 allows up to 7 days). Signed at each submission, never stored.
URL_TTL_SECONDS = 24 * 3600

HOW_TO_CONFIGURE = (f"set {ASSETS_ENV}=s3://BUCKET/PREFIX (or --assets s3://BUCKET/PREFIX) to an S3-compatible "
                    "store, with AWS_ENDPOINT_URL for one that is not AWS and the credentials in AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY or an AWS profile; or try the campaign with --sandbox")


class StoreError(Exception):
    """The store could not do what was asked; ``refused``: it refused the credentials (or their rights)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.message = message
        self.refused = refused


class Store(Protocol):
    """An object store that holds reference files by content and signs GET URLs for them."""

    location: str  # what messages name: s3://bucket/prefix

    def key(self, name: str) -> str:
        """The object key of ``name`` (``<sha256>.<ext>``) under the store's prefix."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether the object is there (`StoreError` when the store cannot say)."""
        ...

    async def put(self, key: str, path: Path, mime: str) -> None:
        """Upload the file at ``path`` as ``key``."""
        ...

    async def put_bytes(self, key: str, data: bytes, mime: str) -> None:
        """Upload ``data`` as ``key`` (what `doctor` writes)."""
        ...

    async def read(self, key: str) -> bytes:
        """The object's content (what `doctor` reads back)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object (`doctor`'s probe)."""
        ...

    async def presign(self, key: str, seconds: int = URL_TTL_SECONDS) -> str:
        """A GET URL for ``key`` that needs no header and lives ``seconds``."""
        ...


def store_address(given: str | None) -> str | None:
    """The configured store's address: ``given`` (``--assets``), else ``$PHOTOGPT_BATCH_ASSETS``, else None."""
    value = (given or os.environ.get(ASSETS_ENV, "")).strip()
    return value or None


def parse_address(address: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; ValueError with what is wrong otherwise."""
    parts = urlsplit(address)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{ASSETS_ENV}: {address!r} is not an s3://BUCKET/PREFIX address")
    return parts.netloc, parts.path.strip("/")


def open_store(address: str) -> Store:
    """The store at ``address`` (``s3://``: any S3-compatible store; `ValueError` for an address that cannot be)."""
    bucket, prefix = parse_address(address)
    from .s3 import S3Store  # boto3 is imported only by a run that stages files

    return S3Store(bucket, prefix)
