"""The sandbox is the other side of the wire: it imports nothing of photogpt_batch outside its own package."""

from __future__ import annotations

import ast
from pathlib import Path

import photogpt_batch.sandbox

PACKAGE = Path(photogpt_batch.sandbox.__file__).parent


def test_sandbox_imports_nothing_from_the_rest_of_the_project() -> None:
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                name = node.module or ""
                outside = node.level > 1 or (
                    node.level == 0
                    and name.startswith("photogpt_batch")
                    and not name.startswith("photogpt_batch.sandbox")
                )
            elif isinstance(node, ast.Import):
                outside = any(
                    a.name.startswith("photogpt_batch") and not a.name.startswith("photogpt_batch.sandbox")
                    for a in node.names
                )
            else:
                continue
            if outside:
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
