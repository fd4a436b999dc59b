"""The docs keep up with the code (datasette's test_docs is the model): every command-line option, every
environment variable the package reads and every plugin hook is documented where a user looks for it; links
between the docs resolve; the plugin tutorial shows the example package's files as they are.

Each check is a function that returns what is missing, tested on the real code and on a made-up case, so a
check that stopped finding anything would fail too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from photogpt_batch import hookspecs
from photogpt_batch.cli import cli

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
PLUGINS = DOCS / "plugins.md"
EXAMPLE = DOCS / "examples" / "photogpt-batch-acme"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), ROOT / "bench" / "RESULTS.md"]
PACKAGE_SOURCES = [*(ROOT / "photogpt_batch").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
ENV_VAR = re.compile(r"\bPHOTOGPT_[A-Z0-9_]*[A-Z0-9]\b")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> the text under it, for the headings of one level (``"##"``, ``"###"``)."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def mentions(text: str, token: str) -> bool:
    """Whether ``token`` (an option such as ``--out``, a variable name) stands in ``text`` as itself."""
    return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", text) is not None


# --- command-line options -------------------------------------------------------------------------------


def walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command`` with its path from the program name."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))


def command_heading(path: tuple[str, ...], headings: dict[str, str]) -> str | None:
    """The heading of configuration.md that documents the command at ``path``: ``### `photogpt-batch run SPEC` ``."""
    wanted = " ".join(path)
    return next((h for h in headings if re.fullmatch(rf"`{re.escape(wanted)}( [^`]*)?`", h)), None)


def undocumented_options(root: click.Command, page: str) -> list[str]:
    """A message for each command without a section in ``page`` and each option missing from its section."""
    headings = sections(page, "###")
    missing = []
    for path, command in walk(root, ("photogpt-batch",)):
        options = [opt for p in command.params if isinstance(p, click.Option)
                   for opt in (*p.opts, *p.secondary_opts) if opt not in ("-h", "--help")]
        if len(path) == 1:  # the program's own options (--version) go in the introduction of "## Commands"
            where, text = "in the introduction of '## Commands'", sections(page, "##").get("Commands", "")
        else:
            heading = command_heading(path, headings)
            if heading is None:
                missing.append(f"`{' '.join(path)}` has no section: add '### `{' '.join(path)} ...`' with a table "
                               f"of its options to docs/configuration.md")
                continue
            where, text = f"in the table under '### {heading}'", headings[heading]
        missing += [f"`{' '.join(path)} {opt}` is not documented: add it {where} in docs/configuration.md"
                    for opt in options if not mentions(text, opt)]
    return missing


def test_every_command_line_option_is_documented() -> None:
    assert undocumented_options(cli, read(CONFIGURATION)) == []


def test_an_undocumented_option_or_command_is_reported_with_where_to_write_it() -> None:
    @click.group()
    @click.option("--colour")
    def tool() -> None: ...

    @tool.command()
    @click.option("--fast", "-f", is_flag=True)
    @click.option("--keep/--no-keep")
    def go() -> None: ...

    @tool.command()
    def stop() -> None: ...

    page = "## Commands\n\nThe options.\n\n### `photogpt-batch go SPEC`\n\n| `--fast` | x |\n| `--keep` | y |\n"
    assert undocumented_options(tool, page) == [
        "`photogpt-batch --colour` is not documented: add it in the introduction of '## Commands' in "
        "docs/configuration.md",
        "`photogpt-batch go -f` is not documented: add it in the table under '### `photogpt-batch go SPEC`' in "
        "docs/configuration.md",
        "`photogpt-batch go --no-keep` is not documented: add it in the table under '### `photogpt-batch go SPEC`' "
        "in docs/configuration.md",
        "`photogpt-batch stop` has no section: add '### `photogpt-batch stop ...`' with a table of its options to "
        "docs/configuration.md",
    ]


# --- environment variables ------------------------------------------------------------------------------


def environment_variables(sources: list[Path]) -> set[str]:
    """Every PHOTOGPT_* name the package's code mentions (in os.environ lookups and the constants they use)."""
    return {name for path in sources for name in ENV_VAR.findall(read(path))}


def undocumented_variables(names: set[str], page: str) -> list[str]:
    table = sections(page, "##").get("Environment variables", "")
    return [f"the environment variable {name} is not documented: add a row `| `{name}` | default | meaning |` to "
            "the table under '## Environment variables' in docs/configuration.md"
            for name in sorted(names) if f"| `{name}` |" not in table]


def test_every_environment_variable_the_package_reads_is_documented() -> None:
    names = environment_variables(PACKAGE_SOURCES)
    assert {"PHOTOGPT_API_KEY", "PHOTOGPT_BASE_URL", "PHOTOGPT_BATCH_DEBUG"} <= names  # the scan finds them
    assert undocumented_variables(names, read(CONFIGURATION)) == []


def test_an_undocumented_environment_variable_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text('import os\nLIMIT = os.environ.get("PHOTOGPT_BATCH_LIMIT")\n')
    assert undocumented_variables(environment_variables([source]), read(CONFIGURATION)) == [
        "the environment variable PHOTOGPT_BATCH_LIMIT is not documented: add a row `| `PHOTOGPT_BATCH_LIMIT` | "
        "default | meaning |` to the table under '## Environment variables' in docs/configuration.md"]


# --- plugin hooks ---------------------------------------------------------------------------------------


def hook_signatures(module: object) -> list[str]:
    """``name(arg, ...)`` of every hook spec in ``module``."""
    return [f"{name}({', '.join(inspect.signature(fn).parameters)})"
            for name, fn in inspect.getmembers(module, inspect.isfunction) if hasattr(fn, "photogpt_batch_spec")]


def undocumented_hooks(signatures: list[str], page: str) -> list[str]:
    table = sections(page, "###").get("Hooks", "")
    return [f"the hook {sig} is not documented: add a row `| `{sig}` | when it is called | what it does |` to the "
            "table under '### Hooks' in docs/plugins.md" for sig in signatures if f"| `{sig}` |" not in table]


def test_every_plugin_hook_is_documented_with_its_arguments() -> None:
    signatures = hook_signatures(hookspecs)
    assert "register_models(register)" in signatures
    assert undocumented_hooks(signatures, read(PLUGINS)) == []


def test_an_undocumented_hook_is_reported() -> None:
    assert undocumented_hooks(["register_models(register)", "register_commands(cli)"], read(PLUGINS)) == [
        "the hook register_commands(cli) is not documented: add a row `| `register_commands(cli)` | when it is "
        "called | what it does |` to the table under '### Hooks' in docs/plugins.md"]


# --- links and the tutorial -----------------------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file or ``#anchor`` does not exist."""
    text = re.sub(r"```.*?```", "", read(page), flags=re.DOTALL)
    broken = []
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{page.relative_to(ROOT)}: {target} does not exist")
        elif anchor and path.suffix == ".md":
            anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", read(path), flags=re.MULTILINE)}
            if anchor not in anchors:
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_between_the_docs_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_nothing_points_outside_the_repo() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)", read(page)):
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).resolve().is_relative_to(ROOT), f"{page}: {target}"
        assert "/work/" not in read(page) and "../shared" not in read(page), page


def test_the_plugin_tutorial_shows_the_example_package_word_for_word() -> None:
    blocks = re.findall(r"```\w*\n# (\S+)\n(.*?)```", read(PLUGINS), flags=re.DOTALL)
    shown = {name: body for name, body in blocks if (EXAMPLE / name).is_file()}
    assert set(shown) == {"pyproject.toml", "photogpt_batch_acme.py", "tests/test_acme.py", "spec.yaml"}
    for name, body in shown.items():
        assert body == read(EXAMPLE / name), f"docs/plugins.md shows {name} differently from {EXAMPLE / name}"


def test_the_readme_keeps_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = read(ROOT / "README.md")
    run = ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
           "photogpt-batch run specs/demo.yaml --sandbox")
    test = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest"
    assert f"\n{run}\n" in readme and f"\n{test}\n" in readme
    assert read(ROOT / ".ci" / "run").rstrip().splitlines()[-1] == test
    assert len(readme.splitlines()) <= 200
