"""A PostgreSQL streaming replica of the test server, for the read-replica tests: ``pg_basebackup`` of the whole
cluster into a temporary directory, started as a hot standby on a port of its own, stopped and removed afterwards.

The primary must accept replication connections from 127.0.0.1 without a password, as it accepts ordinary ones on
these machines: :func:`allow_replication` adds that rule to its ``pg_hba.conf`` when it is missing (once: the rule
stays) and reloads it. Commands that touch the primary's files or the replica's run as the ``postgres`` account when
the tests run as root (CI), as the current account otherwise.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPLICATION_RULE = "host replication all 127.0.0.1/32 trust"
DEFAULT_PORT = 55432
STANDBY_LIMITS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class ReplicaUnavailable(Exception):
    """The replica could not be made; the message says why."""


def _as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replication_allowed(primary: dict) -> bool:
    """Whether the primary accepts a replication connection from 127.0.0.1 as ``primary["user"]``."""
    try:
        with psycopg.connect(**primary, replication="true", autocommit=True, connect_timeout=5) as conn:
            conn.execute("IDENTIFY_SYSTEM")
    except psycopg.OperationalError:
        return False
    return True


def allow_replication(primary: dict) -> None:
    """Trust replication connections from 127.0.0.1 in the primary's ``pg_hba.conf`` (appended once), reloaded."""
    if replication_allowed(primary):
        return
    with psycopg.connect(**primary, dbname="postgres", autocommit=True) as conn:
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        try:
            lines = hba.read_text().splitlines()
            if REPLICATION_RULE not in (line.strip() for line in lines):
                with hba.open("a") as out:
                    out.write(f"\n# The test suite's read replica (tests/replica_support.py)\n{REPLICATION_RULE}\n")
        except OSError as error:
            raise ReplicaUnavailable(f"cannot add '{REPLICATION_RULE}' to {hba}: {error}") from None
        conn.execute("SELECT pg_reload_conf()")
    for _ in range(50):  # the postmaster reloads asynchronously
        if replication_allowed(primary):
            return
        time.sleep(0.1)
    raise ReplicaUnavailable(f"the primary still refuses replication connections after adding {REPLICATION_RULE}")


@dataclass
class Replica:
    """A running hot standby: its data directory and port; :meth:`stop` ends it and removes the directory."""

    bindir: Path
    datadir: Path
    port: int

    def connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def stop(self) -> None:
        _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_replica(primary: dict, port: int | None = None) -> Replica:
    """A hot standby of the cluster ``primary`` (psycopg connection keywords: host, port, user) on 127.0.0.1:``port``
    (55432, or a free port when that one is taken), streaming from it, once it accepts connections."""
    if shutil.which("runuser") is None and os.geteuid() == 0:
        raise ReplicaUnavailable("runuser is missing: cannot run PostgreSQL's tools as the postgres account")
    allow_replication(primary)
    with psycopg.connect(**primary, dbname="postgres", autocommit=True) as conn:
        major = conn.info.server_version // 10000
        # A hot standby needs these at least as high as on its primary.
        limits = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in STANDBY_LIMITS}
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    if not (bindir / "pg_basebackup").exists():
        found = shutil.which("pg_basebackup")
        if found is None:
            raise ReplicaUnavailable(f"no pg_basebackup in {bindir} or on PATH")
        bindir = Path(found).parent
    if port is None:
        port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
    home = Path(tempfile.mkdtemp(prefix="nongji-replica-"))
    datadir = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    home.chmod(0o700)
    try:
        made = _as_postgres(
            [
                *(str(bindir / "pg_basebackup"), "-R", "-D", str(datadir), "-X", "stream", "-c", "fast", "--no-sync"),
                *("-h", primary["host"], "-p", str(primary["port"]), "-U", primary["user"]),
            ]
        )
        if made.returncode:
            raise ReplicaUnavailable(f"pg_basebackup failed: {made.stderr.strip()}")
        # Debian keeps the cluster's configuration in /etc, outside the copied data directory: the replica gets its own.
        _as_postgres(["sh", "-c", f"cd {datadir} && : > postgresql.conf && : > pg_ident.conf"])
        _as_postgres(
            ["sh", "-c", f"printf 'local all all trust\\nhost all all 127.0.0.1/32 trust\\n' > {datadir}/pg_hba.conf"]
        )
        options = " ".join(
            [f"-p {port} -c hot_standby=on -c listen_addresses=127.0.0.1 -k {home} -c fsync=off"]
            + [f"-c {name}={value}" for name, value in limits.items()]
        )
        started = _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(home / "replica.log"), "-o", options, "-w", "start"]
        )
        if started.returncode:
            log = (home / "replica.log").read_text() if (home / "replica.log").exists() else ""
            raise ReplicaUnavailable(f"the replica did not start: {started.stdout}{started.stderr}{log[-2000:]}")
    except BaseException:
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"])
        shutil.rmtree(home, ignore_errors=True)
        raise
    replica = Replica(bindir=bindir, datadir=datadir, port=port)
    deadline = time.monotonic() + 60
    while True:
        try:
            with replica.connect("postgres") as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return replica
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            replica.stop()
            raise ReplicaUnavailable("the replica did not accept connections within 60 s")
        time.sleep(0.2)


def wait_for_replay(primary: psycopg.Connection, replica: psycopg.Connection, timeout: float = 30) -> None:
    """Until the replica has replayed everything the primary had written when called."""
    (lsn,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + timeout
    while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [str(lsn)]).fetchone()[0]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not replay up to {lsn} within {timeout} s")
        time.sleep(0.05)
