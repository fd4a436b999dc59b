"""How messages write paths and values: one `dotted` and one `show` for the whole spec package."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign
from photogpt_batch.spec.text import dotted, show


def test_dotted_writes_paths_as_users_write_them() -> None:
    assert dotted(("options", "duration")) == "options.duration"
    assert dotted(("referenceImages", 2, "url")) == "referenceImages[2].url"
    assert dotted(()) == "job"


@pytest.mark.parametrize(("value", "shown"), [
    (True, "true"), (None, "null"), (8, "8"), (2.5, "2.5"),
    ("720p", "720p"), ("16:9", '"16:9"'), ("", '""'), (" padded", '" padded"'),
    ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'), (("a",), '["a"]'), ("x" * 80, "x" * 80),
    (["y" * 80], '["' + "y" * 55 + "..."), (datetime.date(2024, 1, 1), "2024-01-01"),
    ({"when": datetime.date(2024, 1, 1)}, "a mapping"),
])
def test_show_writes_a_value_as_yaml_would(value: object, shown: str) -> None:
    assert show(value) == shown


def test_show_quotes_names_whose_edges_matter() -> None:
    assert show("Spring Launch", quote_text=True) == "'Spring Launch'"
    assert show(3, quote_text=True) == "3"


def test_a_mapping_or_list_where_a_name_belongs_is_shown_as_written_not_as_a_class(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text("version: {a: 1}\ncampaign: 2024-01-01\nvars:\n  {x: 1}: 2\njobs:\n"
                    "  - id: [1, 2]\n    model: veo-3.1\n    prompt: p\n"
                    "  - id: ok\n    model: veo-3.1\n    prompt: p\n    matrix:\n      ratio: ['16:9']\n"
                    "      exclude: [{? [a]: 1}]\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(spec)
    messages = [d.message for d in caught.value.diagnostics]
    assert messages == [
        'version: {"a":1} is not supported; only 1 exists',
        "campaign: 2024-01-01 is not a slug: lowercase letters, digits, '.', '_' and '-', starting with a letter "
        "or digit",
        'vars: {"x":1} is not a placeholder name (letters, digits and _, not starting with a digit)',
        "id: [1,2] must be text such as `hero` or `social-{model}`",
        'matrix.exclude[0]: ["a"] is not a matrix key',
    ]
