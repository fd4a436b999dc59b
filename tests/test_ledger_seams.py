"""The ledger's seams, read from the source with `ast`: outside ``photogpt_batch/ledger/`` no module imports a
database driver (sqlite3, psycopg) or names a store's class, so the rest of the package depends only on the
`Ledger` interface and the ledger's own errors; and ``ledger push``/``pull`` (transfer.py) use only the
interface's public methods, never a ledger's private members."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "photogpt_batch"
LEDGER = PACKAGE / "ledger"
DRIVERS = {"sqlite3", "psycopg", "psycopg2", "psycopg_pool"}
STORES = {"SqliteLedger", "PostgresLedger"}
#: Modules outside the ledger that keep a database of their own, which is not the ledger: the record of files
#: already checked is local to the machine and the folder, disposable, and on purpose never in the ledger.
OWN_DATABASES = {PACKAGE / "io" / "checked.py"}


def _outside_ledger() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if LEDGER not in p.parents]


def _where(path: Path, node: ast.AST) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{shown}:{getattr(node, 'lineno', '?')}"


def driver_imports(path: Path) -> list[str]:
    """``import sqlite3``, ``from psycopg import ...`` and the like in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{_where(path, node)} imports {name}" for name in names if name.split(".")[0] in DRIVERS]
    return found


def store_names(path: Path) -> list[str]:
    """Every mention of a store's class in ``path``: imported, named, or an attribute (``ledger.SqliteLedger``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        else:
            continue
        found += [f"{_where(path, node)} names {name}" for name in names if name in STORES]
    return found


def private_ledger_access(path: Path) -> list[str]:
    """``x._name`` in ``path`` where ``x`` is not ``self`` or ``cls``: a reach past a ledger's interface (every
    object transfer.py handles this way is a ledger). Dunder names are not private."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{_where(path, node)} uses .{node.attr}")
    return found


def test_no_module_outside_the_ledger_imports_a_database_driver() -> None:
    offences = [line for path in _outside_ledger() if path not in OWN_DATABASES for line in driver_imports(path)]
    assert not offences, ("outside photogpt_batch/ledger/, catch the ledger's own errors (LedgerWriteFailed, "
                          "LedgerUnavailable) instead of the driver's:\n" + "\n".join(offences))


def test_no_module_outside_the_ledger_names_a_store() -> None:
    offences = [line for path in _outside_ledger() for line in store_names(path)]
    assert not offences, ("outside photogpt_batch/ledger/, use the Ledger interface (e.g. Ledger.shared) instead "
                          "of a store's class:\n" + "\n".join(offences))


def test_transfer_uses_only_the_ledgers_public_methods() -> None:
    offences = private_ledger_access(LEDGER / "transfer.py")
    assert not offences, "transfer.py reaches into a ledger's private members:\n" + "\n".join(offences)


@pytest.mark.parametrize("source, check, expected", [
    ("import sqlite3\n", driver_imports, 1),
    ("from psycopg.errors import Error\n", driver_imports, 1),
    ("import sqlite3x\n", driver_imports, 0),
    ("from .ledger import SqliteLedger\n", store_names, 1),
    ("isinstance(x, ledger.PostgresLedger)\n", store_names, 1),
    ("ledger._scope\nself._x\nx.__class__\n", private_ledger_access, 1),
])
def test_the_scans_find_what_they_look_for(tmp_path: Path, source: str, check: Callable[[Path], list[str]],
                                           expected: int) -> None:
    # The checks above pass on a clean tree: this shows that they would see an offence.
    path = tmp_path / "sample.py"
    path.write_text(source)
    assert len(check(path)) == expected
