"""Local files as references: validated and hashed at load (`local`, `kinds`, `hashcache`), staged on an
object store at submission (`store`, `s3`, `staging`). A job's body names a file by its content
(``asset:sha256:<hex>.<ext>``); the signed URL the API fetches exists only in the body that is sent."""

from .kinds import ASSET_SCHEME, LocalAsset, asset_ref, parse_asset_ref

__all__ = ["ASSET_SCHEME", "LocalAsset", "asset_ref", "parse_asset_ref"]
