"""A private PostgreSQL server for one test: its own data directory and port on 127.0.0.1.

A test that restarts or stops PostgreSQL must not do it to the shared server on 5432:
the suite runs in several processes, and the other tests' connections would die with
it. This starts the machine's own PostgreSQL binaries (``initdb``, ``pg_ctl``) on a
fresh cluster in a temporary directory, with trust authentication, and removes it
afterwards. Run as root, the server runs as the ``postgres`` user (PostgreSQL refuses
root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.feed_server import closed_port


def bin_dir() -> Path:
    """The newest PostgreSQL server binaries on the machine."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's initdb is not installed (Debian: postgresql)")
    return Path(initdb).parent


class PrivateServer:
    """One PostgreSQL cluster in ``root``, listening on 127.0.0.1:``port``."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.bin = bin_dir()
        self.log = str(root / "server.log")  # pg_ctl's server keeps no pipe of ours open
        self.options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def _ctl(self, *action: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", self.log, "-w",
                  *action)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> float:
        """Fast shutdown and start again; seconds until it accepts connections."""
        began = time.monotonic()
        self._ctl("-m", "fast", "restart")
        return time.monotonic() - began

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        """A new database; its SQLAlchemy URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def private_server() -> Iterator[PrivateServer]:
    """A started private server, stopped and removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    server = PrivateServer(root, closed_port())  # a port nobody listens on yet
    try:
        server.init()
        try:
            server.start()
            yield server
        finally:
            if (server.data / "postmaster.pid").exists():
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
