"""A throwaway PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` on a free port in a temporary folder.

As root (initdb and the server refuse to run as root) the cluster belongs to the ``postgres`` system user and
its commands run through ``runuser -u postgres --``. The superuser connects over the unix socket (in the
cluster's folder, trusted); the role the tests run as, ``runner``, logs in over TCP with a password, so the
password handling is the real thing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "s3cret-Pa55word"
ROLE = "runner"


def server_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def why_not() -> str | None:
    """Why the PostgreSQL tests cannot run here, or ``None``."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if server_bin() is None:
        return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' system user to run the server as"
    return None


@dataclass
class Cluster:
    """A running cluster: ``url(db)`` for the password role over TCP, ``admin(sql)`` as the superuser."""

    folder: Path
    port: int
    socket_dir: Path
    bin: Path
    fsync: str = "off"  # the tests need no durability against power loss; a benchmark does

    def url(self, db: str, *, password: bool = True, user: str = ROLE) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{db}"

    def admin(self, sql: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=db,
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """A fresh database owned by the password role."""
        name = "t_" + uuid.uuid4().hex[:12]
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*_as_postgres(), str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), *args],
                       check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self.pg_ctl("-w", "-l", str(self.folder / "log"), "-o",
                    f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync={self.fsync} "
                    "-c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-w", "-m", mode, "stop")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def cluster(fsync: str = "off") -> Iterator[Cluster]:
    """Start a cluster, yield it, stop it and delete its folder."""
    bin_dir = server_bin()
    assert bin_dir is not None
    folder = Path(tempfile.mkdtemp(prefix="photogpt-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o755)
    subprocess.run([*_as_postgres(), str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    the = Cluster(folder, _free_port(), folder, bin_dir, fsync)
    the.start()
    try:
        the.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        the.admin("CREATE ROLE reader LOGIN PASSWORD 'reader'")
        yield the
    finally:
        with contextlib.suppress(Exception):
            the.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
