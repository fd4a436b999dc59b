"""The PostgreSQL fixtures: one throwaway cluster for the session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_server import Cluster, cluster, why_not


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's cluster; the test is skipped, with the reason, when it cannot run here."""
    reason = why_not()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with cluster() as the:
        yield the


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A URL (with the password role's password) to a fresh database of its own."""
    return pg_cluster.url(pg_cluster.new_database())
