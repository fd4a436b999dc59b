"""Counters that tests read to prove what a client did on the wire."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def canonical_json(body: Any) -> str:
    """The key under which identical request bodies are counted: sorted keys, no whitespace."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Counters:
    """What the sandbox has seen since it started or since ``reset``.

    - ``requests``: per route, ``"METHOD /pattern"`` (API routes relative to ``/api``, e.g.
      ``"POST /videos/generation"``; file routes such as ``"GET /files/{name}"``);
    - ``responses``: per route and status, e.g. ``"GET /jobs/{id} 429"``; a dropped connection counts as
      ``"POST /videos/generation dropped"``;
    - ``payload_counts``: jobs created per identical request body (key: ``canonical_json(body)``);
    - ``jobs_created``; ``faults``: how often each fault kind fired;
    - ``credentialed_file_requests``: requests to the file origin that carried an Authorization header, or
      a key already used on the API origin in any header or query value (all are refused with 400);
    - ``bytes_served``: body bytes written by the file origin.
    """

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    payload_counts: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    jobs_created: int = 0
    credentialed_file_requests: int = 0
    bytes_served: int = 0

    def reset(self) -> None:
        """Forget everything counted so far (jobs and videos stay)."""
        self.requests.clear()
        self.responses.clear()
        self.payload_counts.clear()
        self.faults.clear()
        self.jobs_created = 0
        self.credentialed_file_requests = 0
        self.bytes_served = 0

    def duplicate_payloads(self) -> dict[str, int]:
        """The request bodies that created more than one job, with how many."""
        return {body: n for body, n in self.payload_counts.items() if n > 1}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy, as served by ``GET /_sandbox/counters``."""
        return {
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "payloadCounts": dict(self.payload_counts),
            "faults": dict(self.faults),
            "jobsCreated": self.jobs_created,
            "credentialedFileRequests": self.credentialed_file_requests,
            "bytesServed": self.bytes_served,
        }
