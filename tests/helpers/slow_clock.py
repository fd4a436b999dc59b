"""A process whose clock is wrong: Debian's libfaketime (the library behind the ``faketime`` command) preloaded.

The library is preloaded directly rather than through the ``faketime`` command, which forks and waits for its
child: a signal sent to the command (SIGKILL, SIGSTOP, SIGTERM) would not reach the tool. Only the wall clock
is shifted (``FAKETIME_DONT_FAKE_MONOTONIC``): a machine whose clock is wrong still measures intervals right.
"""

from __future__ import annotations

import glob

import pytest

#: Debian's libfaketime (``apt-get install faketime``), or None.
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)

#: For a test that needs a process with a wrong clock.
needs_faketime = pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime is not installed "
                                    "(apt-get install faketime)")


def slow_clock_env(env: dict[str, str], seconds: float) -> dict[str, str]:
    """``env`` for a process whose wall clock is ``seconds`` behind the true time."""
    assert LIBFAKETIME is not None
    preload = " ".join(p for p in (LIBFAKETIME, env.get("LD_PRELOAD")) if p)
    return {**env, "LD_PRELOAD": preload, "FAKETIME": f"-{seconds:g}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
