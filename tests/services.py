"""The servers a large class is graded with, started for a test as an instructor starts them: a
PostgreSQL server (Debian's `postgresql` package: initdb and pg_ctl on a folder of the test's) and a
Dask scheduler with workers (`dask scheduler`, `dask worker`), each its own processes on 127.0.0.1.

PostgreSQL refuses to run as root: where the tests run as root, the server runs as the `postgres`
user Debian's package makes (or `nobody`), through setpriv, in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian puts it (/usr/lib/postgresql/<v>/bin)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def require_postgres() -> None:
    """Skip unless the PostgreSQL server programs are here; fail instead where CI demands them."""
    if postgres_program("initdb") and postgres_program("pg_ctl"):
        return
    message = "PostgreSQL's server (initdb, pg_ctl) is not installed: apt-get install postgresql"
    if os.environ.get("BERTLAB_REQUIRE_POSTGRES"):
        pytest.fail(message)
    pytest.skip(message)


def _as_server_user() -> tuple[list[str], int | None]:
    """The command prefix that runs a program as a user PostgreSQL accepts, and that user's id
    (None: this user)."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return ([shutil.which("setpriv") or "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                     "--clear-groups", "--"], user.pw_uid)
    raise RuntimeError("no user to run PostgreSQL as (it refuses root): add a postgres user")


@contextlib.contextmanager
def postgres_server(database: str = "bertlab"):
    """A PostgreSQL server of its own on 127.0.0.1 (a free port), its data in a new folder of the
    system's temporary directory (a test's own folder is private to root, and the server's user must
    reach it); yields the URL of an empty database on it, as `make ... DB=` takes it. Stopped and
    removed at the end, whatever happened."""
    require_postgres()
    prefix, uid = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="bertlab-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if uid is not None:
        for path in (folder, sockets):
            os.chown(path, uid, -1)
    port = free_port()
    run = dict(capture_output=True, text=True, check=True, cwd=folder, env={**os.environ, "LC_ALL": "C"})
    subprocess.run([*prefix, postgres_program("initdb"), "-D", str(data), "-U", "grader", "--auth=trust",
                    "-E", "UTF8", "--no-locale", "--no-sync"], **run)
    options = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=100")
    subprocess.run([*prefix, postgres_program("pg_ctl"), "-D", str(data), "-o", options, "-l",
                    str(folder / "server.log"), "-w", "-t", "60", "start"], **run)
    try:
        import psycopg

        with psycopg.connect(f"postgresql://grader@127.0.0.1:{port}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql://grader@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run([*prefix, postgres_program("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class DaskCluster:
    """A scheduler and workers, each a process of its own, as `dask scheduler` and `dask worker`
    start them."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="30s")

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address and the id of the process that runs its tasks."""
        with self.client() as client:
            return client.run(os.getpid)


def _start(command: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int = 2, cwd: Path | None = None):
    """`dask scheduler` on a free port of 127.0.0.1 and `workers` × `dask worker ADDRESS --nthreads 1`
    (each with its nanny, which starts a new worker process if the one it watches dies), started from
    `cwd`; yields the DaskCluster once every worker has joined. Every process is stopped at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    cwd = cwd or folder
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(BIN / "dask")
    # (Without a dashboard, each still serves its HTTP routes: on the loopback, on a free port.)
    http = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    scheduler = _start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *http],
                       folder / "scheduler.log", cwd)
    cluster = DaskCluster(address, scheduler)
    try:
        for n in range(workers):
            cluster.workers.append(_start(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--memory-limit", "0",
                 *http, "--name", f"worker-{n + 1}", "--host", "127.0.0.1"],
                folder / f"worker-{n + 1}.log", cwd))
        with cluster.client() as client:
            client.wait_for_workers(workers, timeout=120)
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in [*cluster.workers, scheduler]:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
