"""The read side: views of a campaign over its ledger and its spec, and their text and JSON renderings.

Each view is a named value computed by one function, rendered by its own module: `plan` (`make_plan`: what ``run``
would do, with `diff`'s changes per job) rendered by `plan_render`; `status` (`read_status`: what the ledger holds)
rendered by `status_render`; the run summary (`engine.RunSummary`, computed by the engine as a run ends) rendered
by `run_render`. `ledger_read` is the one read of a ledger that ``plan`` and ``status`` share.

None of them imports the HTTP client, and ``plan`` not the engine either (a test checks): the CLI's ``plan``,
``status`` and ``review`` stay light and send nothing. Import from the modules (this package imports nothing).
"""
