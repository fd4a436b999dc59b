"""A local, faithful fake of the PhotoGPT video API: the other side of the wire for tests, demos, benchmarks.

It imports nothing from the rest of ``photogpt_batch``: its request validation is written from the vendor's
guide on its own, so it can catch the client's mistakes instead of sharing them.

    from photogpt_batch.sandbox import Sandbox, SandboxConfig, Faults

    async with Sandbox(SandboxConfig.quick(faults=Faults(fail_rate=0.1))) as sb:
        ...  # talk to sb.base_url; read sb.counters and sb.jobs
"""

from .config import API_ROUTES, FAULT_KINDS, Faults, ManualClock, SandboxConfig
from .counters import Counters, canonical_json
from .runner import SandboxThread, serve_forever
from .server import Sandbox
from .state import CREDITS_PER_SECOND, Job, credits_for
from .validation import MODEL_GROUPS

__all__ = [
    "API_ROUTES",
    "CREDITS_PER_SECOND",
    "FAULT_KINDS",
    "MODEL_GROUPS",
    "Counters",
    "Faults",
    "Job",
    "ManualClock",
    "Sandbox",
    "SandboxConfig",
    "SandboxThread",
    "canonical_json",
    "credits_for",
    "serve_forever",
]
