"""What `plan` says a run would upload: the local files of the jobs `run` would submit, and where they go.

`plan` sends nothing, the store included: it does not ask the store which files it already holds (that needs
the store's credentials and a request per file, and would load boto3 into a command that stays light). So it
says "up to": the files of the new and changed jobs, each counted once. `run` asks the store before its first
POST and says what it really uploads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..assets.body import body_assets
from ..assets.kinds import LocalAsset
from ..assets.local import size_text
from ..assets.store import ASSETS_ENV


@dataclass(frozen=True)
class PlannedUpload:
    """``files`` distinct local files (``bytes`` in all) that the jobs to submit reference; ``store``: where
    they would be staged (None: no store is configured)."""

    files: int
    bytes: int
    store: str | None

    def describe(self) -> str:
        """``up to 3 file(s), 4.2 MB to upload to s3://...``, or what a missing store means."""
        size = f"{self.files} file(s), {size_text(self.bytes)}"
        if self.store is None:
            return (f"{size} to upload, and no object store is configured: run refuses local files against the "
                    f"API without one (set {ASSETS_ENV}=s3://BUCKET/PREFIX or --assets; run --sandbox uses its "
                    "own)")
        return f"up to {size} to upload to {self.store} (run skips those already there)"

    def to_json(self) -> dict[str, Any]:
        """``{files, bytes, store, atMost}``: ``atMost`` because the store is not asked what it holds."""
        return {"files": self.files, "bytes": self.bytes, "store": self.store, "atMost": True}


def planned_upload(assets: Mapping[str, LocalAsset], bodies: Iterable[Mapping[str, Any]],
                   store: str | None) -> PlannedUpload | None:
    """The local files ``bodies`` reference (each once), or None when they reference none."""
    shas = {sha for body in bodies for sha in body_assets(body)}
    files = [assets[sha] for sha in shas if sha in assets]
    if not files:
        return None
    return PlannedUpload(len(files), sum(a.size for a in files), store)
