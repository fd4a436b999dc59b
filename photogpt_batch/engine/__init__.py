"""The engine: makes an output folder match a campaign, through one client and one ledger.

`pipeline` runs it (`Engine.run`): each job goes through the `submit` stage, the `poll` stage (over the
shared `poller`) and the `download` stage (`fetch` streams files, `lastframe` saves last frames, `versions`
keeps earlier versions' files), within the limits of `gate`; `spending` asks before paying and keeps the budget
(the figures themselves are in `photogpt_batch.spend`), `credits` learns what jobs cost, `reconcile` settles
submissions left in doubt, and `summary` says what the run achieved. Every stage shares one `RunContext`.

The names below are imported on first use, so that ``status`` and ``review``, which read the engine's rules of
versions (`versions`), do not import the client and its HTTP stack. Where files go is `photogpt_batch.layout`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "Engine": ".pipeline",
    "EngineOptions": ".context",
    "RunAborted": "..errors",
    "RunSummary": ".summary",
    "summarise": ".summary",
}
__all__ = ["Engine", "EngineOptions", "RunAborted", "RunSummary", "summarise"]

if TYPE_CHECKING:
    from ..errors import RunAborted
    from .context import EngineOptions
    from .pipeline import Engine
    from .summary import RunSummary, summarise


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
