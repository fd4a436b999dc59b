"""The views of a campaign on the shared ledger: a rerun with nothing to do keeps them without making them, and a
write to the campaign from another machine (another folder, another connection) makes them again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import fast_sandbox, load, run_config, write_campaign
from pg_server import Cluster
from views_helpers import Made, files, page_data

from photogpt_batch.ledger import Ledger
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread

# A PostgreSQL cluster (initdb, pg_ctl).
pytestmark = pytest.mark.slow


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(fast_sandbox()) as sb:
        yield sb


def test_views_on_the_shared_ledger_follow_its_campaigns_revision(tmp_path: Path, pg_cluster: Cluster,
                                                                  sandbox: SandboxThread,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    made = Made(monkeypatch)
    url = pg_cluster.url(pg_cluster.new_database())
    spec = write_campaign(tmp_path, jobs=2)
    out = tmp_path / "out"
    config = run_config(sandbox)
    config.ledger_url = url

    def rerun() -> tuple[int, int]:
        made.reset()
        assert run_campaign(load(spec), config).complete
        return made.reset()

    assert rerun() == (1, 1)
    before = files(out)
    assert rerun() == (0, 0)
    assert files(out) == before
    # Another campaign of the same database writes: not this one's.
    with Ledger.open_for_run(tmp_path / "elsewhere", url=url, campaign="another") as other:
        other.set_meta("note", "x")
    assert rerun() == (0, 0)
    # This campaign, written from another machine (its own folder, its own connection).
    with Ledger.open_for_run(tmp_path / "machine-2", url=url, campaign="t") as other:
        other.set_meta("picks", json.dumps({"recordedAt": "now", "jobs": [{"job": "clip-1"}]}))
    assert rerun() == (1, 1)
    assert page_data(out)["picks"]["jobs"] == [{"job": "clip-1"}]
    assert rerun() == (0, 0)
