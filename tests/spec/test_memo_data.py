"""A `Campaign` as plain data and back (`spec.memo_data`, what the spec's memo stores): every field of every class
converted, equal and of the same types once back; a field this module does not know fails the conversion."""

from __future__ import annotations

import marshal
from dataclasses import fields
from pathlib import Path

import pytest

from photogpt_batch.assets.kinds import LocalAsset
from photogpt_batch.campaign import Campaign, Need, PlannedJob
from photogpt_batch.spec.diagnostics import Diagnostic
from photogpt_batch.spec.memo_data import FIELDS, Unhandled, campaign_from_plain, campaign_plain


def test_every_field_of_the_campaigns_classes_is_converted() -> None:
    for cls, names in FIELDS.items():
        assert tuple(f.name for f in fields(cls)) == names, f"{cls.__name__}: convert the new field in memo_data"


def test_a_campaign_with_every_field_set_comes_back_equal() -> None:
    campaign = Campaign(
        "c", Path("/out/c"), Path("specs/c.yaml"),
        jobs=[PlannedJob("a", "veo-3.1", {"modelID": "veo-3.1", "prompt": "p", "numVideos": 2,
                                          "options": {"veo": {"duration": 8, "seed": 1.5, "audio": True}},
                                          "referenceImages": [{"url": "asset:sha256:ab.png", "role": "x"}]},
                         "h" * 64, warnings=("w",), axes=(("ratio", "16:9"),))],
        budget_credits=12.5,
        assets={"ab": LocalAsset(Path("photos/a.png"), "ab", 10, "image", "png", "image/png")},
        sequences={"s": ("a", "b")},
        needs={"b": (Need("a", picked=True, via="from"),)},
    )
    back = campaign_from_plain(marshal.loads(marshal.dumps(campaign_plain(campaign))))
    assert back == campaign
    assert repr(back) == repr(campaign)  # the same types too: 8 is not 8.0, True is not 1
    bare = Campaign("other", Path("/elsewhere"), Path("other.yaml"))
    for field in fields(Campaign):  # every field was given a value other than a bare campaign's
        if field.name not in ("diagnostics", "skipped"):  # empty in every campaign kept
            assert getattr(back, field.name) != getattr(bare, field.name), field.name


def test_a_campaign_with_diagnostics_or_skipped_jobs_is_not_converted() -> None:
    with pytest.raises(ValueError):
        campaign_plain(Campaign("c", Path(), Path(), diagnostics=[Diagnostic("f", 1, 1, "m", "warning")]))
    with pytest.raises(ValueError):
        campaign_plain(Campaign("c", Path(), Path(), skipped=["a"]))


def test_a_class_with_a_field_not_converted_fails_the_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FIELDS, Need, ("job", "picked"))
    with pytest.raises(Unhandled):
        campaign_plain(Campaign("c", Path(), Path()))
