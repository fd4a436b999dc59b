"""The API's default base URL, in a module of its own: what needs only the address (the folder's recorded API in
`ownership`, and through it ``plan``'s price lookups) must not import the HTTP client and aiohttp to learn it.
`photogpt_batch.client` re-exports it."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://developer.photogptai.com/api"
