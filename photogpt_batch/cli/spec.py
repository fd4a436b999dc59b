"""The spec commands: ``validate`` campaign files, list the ``models``, write or check the JSON ``schema``s.
None of them reads a ledger or sends anything."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..plugins import build_registry, get_registry, make_plugin_host
from ..spec.diagnostics import SpecError
from ..spec.load import load_campaign
from .common import diagnostics_summary, emit_json, json_option, plugin_warnings, print_diagnostics


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@json_option("Print the diagnostics as JSON.")
def validate(specs: tuple[str, ...], as_json: bool) -> None:
    """Load, expand and validate campaign files; print every problem with file:line:column."""
    plugin_warnings()
    results = []
    failed = False
    for spec in specs:
        try:
            campaign = load_campaign(spec, memo=True)
            diagnostics, jobs = campaign.diagnostics, len(campaign.jobs)
        except SpecError as exc:  # every file is reported, not only the first bad one
            diagnostics, jobs, failed = exc.diagnostics, None, True
        results.append({"file": spec, "ok": jobs is not None, "jobs": jobs,
                        "diagnostics": [d.to_json() for d in diagnostics]})
        if not as_json:
            print_diagnostics(diagnostics)
            click.echo(diagnostics_summary(spec, diagnostics, jobs)
                       + ("" if jobs is not None else ": invalid, nothing sent"))
    if as_json:
        emit_json(results)
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@click.command()
@json_option("Print the registry as JSON, with each model's options.")
def models(as_json: bool) -> None:
    """List every model, the plugin that provides it and its options."""
    registry = get_registry()
    plugin_warnings()
    if as_json:
        emit_json([
            {"id": m.id, "family": m.family, "plugin": m.plugin, "optionGroup": m.option_group,
             "description": m.description, "options": m.options_schema()["properties"]}
            for m in (registry.models[i] for i in registry.ids())
        ])
        return
    for model_id in registry.ids():
        m = registry.models[model_id]
        click.echo(f"{m.id:<24} {m.family:<14} plugin {m.plugin:<10} options: {', '.join(m.options) or '-'}")


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="schemas", show_default=True,
              help="Folder to write the JSON Schemas into.")
@click.option("--check", is_flag=True, help="Only check that the files in --out are up to date (exit 1 if not).")
@click.option("--all-plugins", is_flag=True,
              help="Include installed third-party plugins (default: the built-in models only, as committed).")
def schema(out: str, check: bool, all_plugins: bool) -> None:
    """Write the campaign JSON Schema and one schema per model (for editors and CI)."""
    from ..spec import schemas  # here: it imports the whole spec layer, which every other command may not need

    registry = build_registry(make_plugin_host(builtin_only=not all_plugins))
    for warning in registry.warnings:
        click.echo(f"warning: {warning}", err=True)
    if check:
        problems = schemas.stale(registry, Path(out))
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            click.echo("regenerate with: photogpt-batch schema", err=True)
            sys.exit(EXIT_FAILED)
        click.echo(f"{out}: up to date")
        return
    for path in schemas.write(registry, Path(out)):
        click.echo(str(path))
