"""Writing ops to a ledger from a synchronous test: `Ledger.write` (group commit) is the one way to write, and it
runs on an event loop."""

from __future__ import annotations

import asyncio

from photogpt_batch.ledger import Ledger, Op


def commit(ledger: Ledger, *ops: Op) -> None:
    """Write ``ops`` together and wait until they are durable (raises the first op's error, as `Ledger.write`).
    Not from inside a running event loop: there, ``await ledger.write(*ops)``."""
    asyncio.run(ledger.write(*ops))
