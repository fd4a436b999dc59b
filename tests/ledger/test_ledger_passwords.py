"""A shared ledger URL whose password holds ``?``, ``#``, ``@`` or ``/`` (percent-encoded or not, as libpq
accepts them) is never printed: by ``plan``, ``status``, ``doctor``, ``ledger locks``, a run's messages and its
resume command, against the real server and against one that cannot be reached."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from cli_in_process import run_main
from engine_helpers import fast_sandbox, posts, wait_until, write_campaign
from pg_server import Cluster
from test_stores_engine import env_for

from photogpt_batch.ledger import redact
from photogpt_batch.sandbox import SandboxThread

SECRET = "Gxq7?Hy2#Kw9@Pz4/Rm3"
#: Pieces of the password: none may appear anywhere, whole, encoded or cut at its odd characters.
PIECES = ("Gxq7", "Hy2", "Kw9", "Pz4", "Rm3")


def odd_urls(port: int, db: str, user: str) -> list[str]:
    """The password every way libpq takes it: encoded in the user part, with ``?`` and ``#`` left raw there
    (libpq reads the user part up to the first ``@`` or ``/``), and as a ``password=`` parameter."""
    encoded = quote(SECRET, safe="")
    raw_part = SECRET.replace("@", "%40").replace("/", "%2F")
    return [f"postgresql://{user}:{encoded}@127.0.0.1:{port}/{db}?sslmode=disable",
            f"postgresql://{user}:{raw_part}@127.0.0.1:{port}/{db}",
            f"postgresql://{user}@127.0.0.1:{port}/{db}?password={encoded}&sslmode=disable"]


@pytest.fixture
def odd_role(pg_cluster: Cluster) -> tuple[str, str]:
    """A role whose password holds ? # @ /, and a database of its own: (role, database)."""
    role = "odd_" + uuid.uuid4().hex[:8]
    pg_cluster.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
    db = "t_" + uuid.uuid4().hex[:12]
    pg_cluster.admin(f"CREATE DATABASE {db} OWNER {role}")
    return role, db


def hidden(text: str) -> None:
    assert "Traceback" not in text, text
    for piece in PIECES:
        assert piece not in text, text


def run_stopped_by_ctrl_c(spec: Path, url: str, env: dict[str, str], sandbox: SandboxThread) -> tuple[int, str, str]:
    """``run SPEC --ledger URL`` in its own process, stopped by Ctrl-C once it sent two jobs: its exit code,
    stdout and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "photogpt_batch", "run", str(spec), "--rate", "1000",
                             "--quiet", "--ledger", url], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: posts(sandbox) >= 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return proc.returncode, out, err


def test_redact_reads_the_password_as_libpq_does() -> None:
    for url in odd_urls(5432, "db", "bob"):
        shown = redact(url)
        hidden(shown)
        assert shown.startswith("postgresql://bob@127.0.0.1:5432/db"), shown
    # A raw @ or / in the password: libpq cannot read it as one; everything before the last @ is hidden.
    for url in (f"postgresql://bob:{SECRET}@h/db", "postgresql://bob:Gxq7/Hy2@h/db"):
        hidden(redact(url))


# One test per way of writing the URL (odd_urls), so that they run side by side on pytest-xdist's workers. Slow:
# a PostgreSQL cluster (initdb, pg_ctl) and a run in a process of its own, stopped by Ctrl-C; the other commands
# run in this process (cli_in_process), as the unreachable server's test does.
@pytest.mark.slow
@pytest.mark.parametrize("form", range(3))
def test_no_command_prints_a_password_with_odd_characters(tmp_path: Path, pg_cluster: Cluster,
                                                           odd_role: tuple[str, str], form: int) -> None:
    role, db = odd_role
    spec = write_campaign(tmp_path, jobs=6)
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        env = env_for(sandbox, None)
        url = odd_urls(pg_cluster.port, db, role)[form]
        # The run's resume command, after Ctrl-C (the URL given with --ledger on the command line); the run
        # leaves jobs and events in the ledger for status, plan and the locks.
        returncode, out, err = run_stopped_by_ctrl_c(spec, url, env, sandbox)
        assert returncode == 130 and "Resume with: photogpt-batch run" in err, err
        assert f"--ledger {shlex.quote(redact(url))}" in err
        hidden(out + err)
        for args in (["plan", str(spec)], ["status", str(spec)], ["status", str(spec), "--json"],
                     ["doctor", "--sandbox", str(spec)], ["ledger", "locks"], ["ledger", "locks", "--json"]):
            done = run_main([*args, "--ledger", url], env)
            assert done.returncode in (0, 1), (args, done.stderr)
            assert "127.0.0.1" in done.stdout + done.stderr or args[0] == "ledger", (args, done.stderr)
            hidden(done.stdout + done.stderr)


@pytest.mark.parametrize("form", range(3))
def test_no_command_prints_a_password_with_odd_characters_when_the_server_cannot_be_reached(
        tmp_path: Path, form: int) -> None:
    spec = write_campaign(tmp_path, jobs=6)
    with SandboxThread(fast_sandbox(generation_seconds=(1.0, 2.0))) as sandbox:
        env = env_for(sandbox, None)
        # A server that cannot be reached: the message names the URL, without its password.
        url = odd_urls(1, "photogpt", "odd")[form]
        for args in (["plan", str(spec)], ["status", str(spec)], ["doctor", "--sandbox", str(spec)],
                     ["ledger", "locks"], ["run", str(spec), "--quiet"]):
            done = run_main([*args, "--ledger", url], env)
            assert done.returncode in (1, 2), (args, done.stderr)
            assert "127.0.0.1:1" in done.stdout + done.stderr, (args, done.stdout, done.stderr)
            hidden(done.stdout + done.stderr)
