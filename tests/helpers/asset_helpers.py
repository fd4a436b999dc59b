"""Helpers of the local-file tests (tests/assets/): small real images, a campaign that references files, and a
boto3 client for the tests' own looks at the S3-compatible server's bucket."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image


def png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 36)) -> bytes:
    """A small PNG of one colour."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()



def campaign_file(folder: Path, refs: dict[str, str], name: str = "cat") -> Path:
    jobs = "".join(f"""  - id: {job}
    prompt: product {job}
    options: {{duration: 4}}
    referenceImages: [{{{ref}, role: first_frame}}]
""" for job, ref in refs.items())
    path = folder / f"{name}.yaml"
    path.write_text(f"version: 1\ncampaign: {name}\noutput: {folder / 'out'}\ndefaults: {{model: veo-3.1}}\n"
                    f"jobs:\n{jobs}", encoding="utf-8")
    return path


def s3_client(endpoint: str) -> Any:  # boto3 ships no annotations: its client is Any
    """A boto3 client on the moto server, for the tests' own looks at the bucket."""
    import boto3  # imported by the worker that runs the store's tests only
    import botocore.config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))
