"""`S3Store`: any S3-compatible store (AWS, Cloudflare R2, MinIO, Backblaze B2, GCS interoperability) through
boto3.

boto3 rather than obstore: boto3 reads the whole AWS configuration a user already has, the same way the AWS
CLI does (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, profiles in ``~/.aws``, SSO, instance and container
roles), and signs GET URLs locally. obstore is async and lighter but takes no AWS profiles by itself. boto3
is synchronous: every call runs in a worker thread, so the event loop is never held up.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from .store import URL_TTL_SECONDS, StoreError

_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
            "AllAccessDisabled", "403", "401"}


class S3Store:
    """Objects ``s3://bucket/prefix/<sha256>.<ext>`` through one boto3 client (thread-safe)."""

    def __init__(self, bucket: str, prefix: str):
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        # A custom endpoint (MinIO, R2, a local server) is addressed by path: its buckets have no DNS names.
        style = "path" if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") else "auto"
        config = botocore.config.Config(signature_version="s3v4", s3={"addressing_style": style},
                                        retries={"max_attempts": 4, "mode": "standard"},
                                        connect_timeout=10, read_timeout=60)
        self._client: Any = boto3.session.Session().client("s3", config=config)

    def key(self, name: str) -> str:
        """``prefix/name``."""
        return f"{self.prefix}/{name}" if self.prefix else name

    async def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            text = error.get("Message") or code
            raise StoreError(f"{self.location}: {what}: {text} ({code})", refused=code in _REFUSED) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise StoreError(f"{self.location}: no credentials for the store: set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE", refused=True) from exc
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise StoreError(f"{self.location}: {what}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        """HEAD the object: a 404 is False (the credentials need s3:ListBucket for a missing object to be a 404
        rather than a 403)."""
        try:
            await self._call(f"checking {key}", "head_object", Bucket=self.bucket, Key=key)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, botocore.exceptions.ClientError) and \
                    str(cause.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def put(self, key: str, path: Path, mime: str) -> None:
        """Upload a file (boto3's transfer manager: multipart for a large video)."""
        await self._call(f"uploading {path.name}", "upload_file", Filename=str(path), Bucket=self.bucket, Key=key,
                         ExtraArgs={"ContentType": mime})

    async def put_bytes(self, key: str, data: bytes, mime: str) -> None:
        """Upload bytes."""
        await self._call(f"writing {key}", "put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=mime)

    async def read(self, key: str) -> bytes:
        """Read an object back."""
        answer = await self._call(f"reading {key}", "get_object", Bucket=self.bucket, Key=key)
        return await asyncio.to_thread(answer["Body"].read)

    async def delete(self, key: str) -> None:
        """Delete an object."""
        await self._call(f"deleting {key}", "delete_object", Bucket=self.bucket, Key=key)

    async def presign(self, key: str, seconds: int = URL_TTL_SECONDS) -> str:
        """A presigned GET URL (SigV4, computed locally: no request)."""
        url = await self._call(f"signing {key}", "generate_presigned_url", ClientMethod="get_object",
                               Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds)
        return str(url)
