"""photogpt-batch: make a folder of generated videos match a campaign YAML, through the PhotoGPT API.

The library behind the command line; each command calls one of these::

    from photogpt_batch import load_campaign, make_plan, run_campaign, read_status, RunConfig

    campaign = load_campaign("specs/demo.yaml")          # validate (raises SpecError)
    plan = make_plan(campaign)                           # plan (sends nothing)
    summary = run_campaign(campaign, RunConfig(sandbox=True))  # run
    report = read_status(campaign)                       # status

and plugins use `Model`, `Problem` and `hookimpl`. Every name is imported on first use (PEP 562), so
``import photogpt_batch`` stays cheap and loading a campaign does not import the HTTP client or the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

__version__ = "0.1.0"

#: Public name -> the module that defines it (relative to this package).
_EXPORTS = {
    "load_campaign": ".spec.load",
    "make_plan": ".views.plan",
    "run_campaign": ".runner",
    "read_status": ".views.status",
    "RunConfig": ".runner",
    "EngineOptions": ".engine",
    "BatchError": ".errors",
    "UsageError": ".errors",
    "SpecError": ".spec.diagnostics",
    "ConfigError": ".errors",
    "StatusError": ".errors",
    "select_jobs": ".spec.selection",
    "SelectionError": ".spec.selection",
    "refresh_credits": ".runner",
    "SpendPreview": ".spend.budget",
    "Model": ".models",
    "Problem": ".models",
    "IMAGE_ROLES": ".models",
    "VIDEO_ROLES": ".models",
    "hookimpl": ".hookspecs",
    # The result types the functions above return, for annotations and isinstance checks.
    "Campaign": ".campaign",
    "Plan": ".views.plan",
    "RunSummary": ".engine.summary",
    "StatusReport": ".views.status",
}

__all__ = [  # the names of `_EXPORTS` (a test checks)
    "IMAGE_ROLES",
    "VIDEO_ROLES",
    "BatchError",
    "Campaign",
    "ConfigError",
    "EngineOptions",
    "Model",
    "Plan",
    "Problem",
    "RunConfig",
    "RunSummary",
    "SelectionError",
    "SpecError",
    "SpendPreview",
    "StatusError",
    "StatusReport",
    "UsageError",
    "hookimpl",
    "load_campaign",
    "make_plan",
    "read_status",
    "refresh_credits",
    "run_campaign",
    "select_jobs",
]

if TYPE_CHECKING:  # what type checkers and editors see; at run time `__getattr__` imports on first use
    from .campaign import Campaign
    from .engine import EngineOptions
    from .engine.summary import RunSummary
    from .errors import BatchError, ConfigError, StatusError, UsageError
    from .hookspecs import hookimpl
    from .models import IMAGE_ROLES, VIDEO_ROLES, Model, Problem
    from .runner import RunConfig, refresh_credits, run_campaign
    from .spec.diagnostics import SpecError
    from .spec.load import load_campaign
    from .spec.selection import SelectionError, select_jobs
    from .spend.budget import SpendPreview
    from .views.plan import Plan, make_plan
    from .views.status import StatusReport, read_status


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
