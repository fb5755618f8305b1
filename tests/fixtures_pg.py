"""A throwaway PostgreSQL server for the case-store tests (the lab network's shared store).

Debian's postgresql 15 (``/usr/lib/postgresql/15/bin``: initdb, pg_ctl) is on the development and
CI machines. The session starts one cluster in a temporary folder, on a free TCP port of
127.0.0.1 with its unix socket in the same folder, and stops it at the end; each test that asks
for ``pg_url`` gets a database of its own. initdb refuses to run as root, so as root the server
runs as the ``postgres`` user (``runuser``), in a folder that user owns. ``LABAPP_PG_BIN`` names
another bin folder. Without PostgreSQL or psycopg the tests that need it skip, saying why.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_SKIP = "PostgreSQL server not available for the lab-network tests"


def pg_bin_dir() -> Path | None:
    env = os.environ.get("LABAPP_PG_BIN")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One initdb'd cluster, started with pg_ctl; ``url(db)``, ``create_database()``, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="labapp-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")   # KeyError: no postgres user to run the server as
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "labapp"
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()} {tail}")

    def start(self) -> "PgCluster":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"cases_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE template0 STRATEGY FILE_COPY")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(f"{PG_SKIP}: psycopg is not installed (pip install -e '.[lab]')")
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip(f"{PG_SKIP}: no initdb/pg_ctl (apt install postgresql, or set LABAPP_PG_BIN)")
    try:
        cluster = PgCluster(bin_dir)
    except KeyError:
        pytest.skip(f"{PG_SKIP}: running as root but there is no postgres user to run it as")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A new, empty database on the session's server."""
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path) -> str:
    """One case database, on each back end in turn: an SQLite file (one PC) and a PostgreSQL
    database (a lab network); what CaseStore(where) opens."""
    if request.param == "sqlite":
        return str(tmp_path / "cases.sqlite3")
    return request.getfixturevalue("pg_url")
