"""Streamed JSON is byte-for-byte what json.dumps(indent=2) would print."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photogpt_batch.io.jsonstream import iter_json

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner,
                                                                                             max_size=3), max_leaves=8)


@pytest.mark.slow  # seconds of CPU by design: out of the fast inner loop (see docs/development.md)
@settings(max_examples=150, deadline=None)
@given(head=st.dictionaries(st.text(), values, max_size=3), tail=st.dictionaries(st.text(), values, max_size=3),
       items=st.lists(st.dictionaries(st.text(), values, max_size=3), max_size=4))
def test_streamed_text_equals_json_dumps(head, tail, items) -> None:
    head.pop("jobs", None)
    tail.pop("jobs", None)
    document = {**head, "jobs": [], **{k: v for k, v in tail.items() if k not in head}}
    expected = json.dumps({**document, "jobs": items}, indent=2, ensure_ascii=False) + "\n"
    assert "".join(iter_json(document, "jobs", items)) == expected


def test_a_nested_key_of_the_same_name_is_left_alone() -> None:
    document = {"meta": {"jobs": [], "note": '"jobs": []'}, "jobs": [], "after": 1}
    items = [{"id": "a"}]
    expected = json.dumps({**document, "jobs": items}, indent=2, ensure_ascii=False) + "\n"
    assert "".join(iter_json(document, "jobs", items)) == expected
