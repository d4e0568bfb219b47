"""A local PostgreSQL from Debian's packages: install if missing, start, and hand out databases.

The machines this project runs on have no systemd and no Docker engine; Debian's cluster tools
(``pg_lsclusters``, ``pg_ctlcluster``) work without systemd when told to skip its redirect.
The superuser (peer authentication over the Unix socket) is used only to install, start and create
the role; everything else runs over TCP as that role, like the application itself connects.

Run ``python -m devinfra.local_postgres ensure`` (or ``infra/postgres/ensure.sh``) from a shell.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

Progress = Callable[[str], None]

# Unquoted-identifier shape, so a name means the same in SQL, in a DSN and on a command line.
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_START_TIMEOUT = 60.0


def runuser() -> str:
    """``runuser`` lives in /usr/sbin, which a minimal PATH (cron, ``su`` without ``-``, a
    scrubbed environment) leaves out."""
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"


class LocalPostgresError(RuntimeError):
    """PostgreSQL could not be installed, started or reached; the message says what to do."""


@dataclass(frozen=True)
class PostgresStatus:
    installed: bool
    running: bool
    answering: bool
    version: str | None


@dataclass(frozen=True)
class _Cluster:
    version: str
    name: str
    port: int
    online: bool
    owner: str


@dataclass(frozen=True)
class LocalPostgres:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "sscard"
    password: str = "sscard"
    admin_db: str = "postgres"

    # -- server --------------------------------------------------------------------------------

    def ensure_server(self, progress: Progress = print) -> None:
        """Install (root only), start the cluster serving ``port``, wait until it accepts logins."""
        if not _installed():
            self._install(progress)
        cluster = self._cluster()
        if cluster is None:
            cluster = self._create_cluster(progress)
        if not cluster.online:
            progress(f"starting PostgreSQL {cluster.version}/{cluster.name} on port {cluster.port}")
            try:
                self._as_owner(cluster, _pg_ctlcluster(cluster, "start"))
            except LocalPostgresError:
                # Started by a concurrent caller in the meantime: the outcome we wanted.
                if not self._cluster_online():
                    raise
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answering():
            if time.monotonic() >= deadline:
                raise LocalPostgresError(
                    f"PostgreSQL {cluster.version}/{cluster.name} does not accept connections on "
                    f"{self.host}:{self.port} after {_START_TIMEOUT:.0f} s; see "
                    f"/var/log/postgresql/postgresql-{cluster.version}-{cluster.name}.log"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        cluster = self._cluster() if _installed() else None
        if cluster is not None and cluster.online:
            self._as_owner(cluster, _pg_ctlcluster(cluster, "stop"))

    def status(self) -> PostgresStatus:
        installed = _installed()
        cluster = self._cluster() if installed else None
        return PostgresStatus(
            installed=installed,
            running=cluster is not None and cluster.online,
            answering=self._answering(),
            version=cluster.version if cluster else None,
        )

    # -- role and databases --------------------------------------------------------------------

    def ensure_role(self) -> None:
        """Make ``user`` a LOGIN role with ``password`` and CREATEDB (tests make their own DBs)."""
        if self._role_is_usable():
            return
        cluster = self._cluster()
        if cluster is None or not cluster.online:
            raise LocalPostgresError("PostgreSQL is not running: call ensure_server() first")
        # psql's :'var' turns the values into SQL literals, format()'s %I/%L quotes them again for
        # the generated statement: no name or password can break out of its quotes.
        script = (
            "SELECT format('CREATE ROLE %I', :'role')"
            " WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec\n"
            "SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password')"
            " \\gexec\n"
        )
        psql = [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-p",
            str(cluster.port),
            "-d",
            self.admin_db,
            "-v",
            f"role={self.user}",
            "-v",
            f"password={self.password}",
        ]
        try:
            self._as_owner(cluster, psql, stdin=script)
        except LocalPostgresError:
            # Another process created the role between our check and our CREATE; the second run
            # skips the CREATE.
            self._as_owner(cluster, psql, stdin=script)
        if not self._role_is_usable():
            raise LocalPostgresError(
                f"role {self.user} exists but cannot log in over TCP at {self.host}:{self.port}; "
                f"check pg_hba.conf of PostgreSQL {cluster.version}/{cluster.name}"
            )

    def dsn(self, name: str) -> str:
        _check_name(name)
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{name}"

    def ensure_database(self, name: str) -> str:
        """Create the database (owned by ``user``) unless it exists; return its DSN."""
        _check_name(name)
        with self._admin_connection() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            # DuplicateDatabase: created concurrently by another test worker, as good as ours.
            if exists is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop the database even if clients are still connected (a crashed test, a pool)."""
        _check_name(name)
        if name == self.admin_db:
            raise ValueError(f"refusing to drop the admin database {name!r}")
        with self._admin_connection() as conn:
            # WITH (FORCE) terminates the other sessions first (PostgreSQL 13+).
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals -----------------------------------------------------------------------------

    def _cluster_online(self) -> bool:
        cluster = self._cluster()
        return cluster is not None and cluster.online

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(self.dsn(self.admin_db), autocommit=True, connect_timeout=5)

    def _role_is_usable(self) -> bool:
        try:
            with self._admin_connection() as conn:
                row = conn.execute(
                    "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
        except psycopg.OperationalError:
            return False
        return row is not None and bool(row[0])

    def _answering(self) -> bool:
        """Whether the server accepts sessions, judged by a real login attempt over TCP.

        A refused login (wrong password, missing role or database) is an answer: the server is up.
        No response, or "the database system is starting up", is not.
        """
        try:
            with psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.admin_db,
                connect_timeout=3,
            ):
                return True
        except psycopg.OperationalError as error:
            # The server asks for a password only once it is up (a starting server refuses before
            # authentication), and a missing role still gets a password exchange: a failed login
            # that used the password is an answer. The messages are the fallback (they may be
            # translated by the server's lc_messages, the flag is not).
            used_password = error.pgconn is not None and error.pgconn.used_password
            return used_password or _is_login_refusal(str(error))

    def _cluster(self) -> _Cluster | None:
        """The cluster configured for ``port``; None only if there is no cluster at all."""
        clusters = _list_clusters()
        for cluster in clusters:
            if cluster.port == self.port:
                return cluster
        if clusters:
            found = ", ".join(f"{c.version}/{c.name} on port {c.port}" for c in clusters)
            raise LocalPostgresError(
                f"no PostgreSQL cluster uses port {self.port} (found: {found})"
            )
        return None

    def _install(self, progress: Progress) -> None:
        command = "apt-get update && apt-get install -y postgresql"
        if os.geteuid() != 0:
            raise LocalPostgresError(f"PostgreSQL is not installed; as root, run: {command}")
        progress(f"installing PostgreSQL from Debian's packages: {command}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update"], env=env)
        _run(["apt-get", "install", "-y", "-q", "postgresql"], env=env)

    def _create_cluster(self, progress: Progress) -> _Cluster:
        """Debian's package creates ``main`` on install, unless configured not to; cover that."""
        versions = _server_versions()
        if not versions or os.geteuid() != 0:
            raise LocalPostgresError(
                f"no PostgreSQL cluster exists; as root, run: pg_createcluster "
                f"{versions[-1] if versions else '<version>'} main --port {self.port}"
            )
        progress(f"creating PostgreSQL cluster {versions[-1]}/main on port {self.port}")
        _run(["pg_createcluster", versions[-1], "main", "--port", str(self.port)])
        cluster = self._cluster()
        if cluster is None:
            raise LocalPostgresError("pg_createcluster ran but pg_lsclusters shows no cluster")
        return cluster

    def _as_owner(self, cluster: _Cluster, cmd: Sequence[str], stdin: str | None = None) -> None:
        """Run ``cmd`` as the cluster's owner (peer authentication; pg_ctlcluster wants it)."""
        if os.geteuid() == 0:
            _run([runuser(), "-u", cluster.owner, "--", *cmd], stdin=stdin)
            return
        if _current_user() == cluster.owner:
            _run(cmd, stdin=stdin)
            return
        raise LocalPostgresError(
            f"this step must run as root or as {cluster.owner}: "
            f"sudo runuser -u {cluster.owner} -- {' '.join(cmd)}   "
            f"(or run infra/postgres/ensure.sh as root)"
        )


def _pg_ctlcluster(cluster: _Cluster, action: str) -> list[str]:
    # No systemd on these machines: without the flag, pg_ctlcluster hands the job to systemctl.
    return ["pg_ctlcluster", "--skip-systemctl-redirect", cluster.version, cluster.name, action]


def _installed() -> bool:
    return shutil.which("pg_lsclusters") is not None and bool(_server_versions())


def _server_versions() -> list[str]:
    """Installed server versions, oldest first (the folders of /usr/lib/postgresql/<v>/bin)."""
    root = Path("/usr/lib/postgresql")
    found = [p.parent.parent.name for p in root.glob("*/bin/postgres")] if root.is_dir() else []
    return sorted(found, key=lambda v: [int(part) for part in re.findall(r"\d+", v)])


def _list_clusters() -> list[_Cluster]:
    # Columns: Ver Cluster Port Status Owner Data-directory Log-file; status may read
    # "online,recovery".
    out = _run(["pg_lsclusters", "--no-header"])
    clusters = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2].isdigit():
            clusters.append(
                _Cluster(
                    version=fields[0],
                    name=fields[1],
                    port=int(fields[2]),
                    online=fields[3].startswith("online"),
                    owner=fields[4],
                )
            )
    return clusters


def _is_login_refusal(message: str) -> bool:
    # libpq reports these only after the server answered the startup packet.
    refusals = ("password authentication failed", "does not exist", "no pg_hba.conf entry")
    return any(refusal in message for refusal in refusals)


def _current_user() -> str:
    import pwd  # noqa: PLC0415  (POSIX only, like everything in this module)

    return pwd.getpwuid(os.geteuid()).pw_name


def _check_name(name: str) -> None:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: use letters, digits and _ (max 63)")


def _run(cmd: Sequence[str], stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command, returning its output; raise with the output's tail if it fails.

    Output goes through a file, not a pipe: ``pg_ctlcluster start`` leaves a daemon behind, and a
    daemon holding an inherited pipe would keep a pipe reader waiting forever.
    """
    with tempfile.TemporaryFile() as out:
        result = subprocess.run(
            list(cmd),
            input=stdin.encode() if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
        out.seek(0)
        text = out.read().decode(errors="replace")
    if result.returncode != 0:
        tail = "\n".join(text.rstrip().splitlines()[-20:])
        raise LocalPostgresError(
            f"command failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}"
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devinfra.local_postgres",
        description="Install/start the local PostgreSQL and create the sscard role.",
    )
    parser.add_argument("action", choices=["ensure", "status", "stop"])
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--database", help="with ensure: also create this database")
    args = parser.parse_args(argv)
    postgres = LocalPostgres(port=args.port)
    try:
        if args.action == "ensure":
            postgres.ensure_server()
            postgres.ensure_role()
            database = postgres.ensure_database(args.database) if args.database else None
            print(f"PostgreSQL ready on {postgres.host}:{postgres.port}, role {postgres.user}")
            if database:
                print(f"DATABASE_URL={database}")
        elif args.action == "status":
            print(postgres.status())
        else:
            postgres.stop()
    except LocalPostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
