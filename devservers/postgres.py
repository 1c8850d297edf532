"""A throwaway PostgreSQL on 127.0.0.1, initialised in a temp folder by the tests (Debian's
``postgresql`` package: ``initdb`` and ``postgres`` under /usr/lib/postgresql/<version>/bin).

Nothing here is skipped when PostgreSQL is missing or fails: start() raises with the server's log.

``initdb`` and ``postgres`` refuse to run as root, and tests often do (containers, CI). As root
the server runs as the ``postgres`` system user that Debian's package creates (``nobody`` if it
is absent), through ``subprocess.Popen(user=...)``: no sudo/runuser needed. Its data folder is
a fresh ``mkdtemp`` owned by that user (pytest's own temp folders are root's, mode 0700, which
the server could not enter); logs stay in the test's ``workdir``.

Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): a throwaway server
is never recovered after a power loss, and the tests run on a shared 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devservers.net import free_port, wait_for_ports
from devservers.process import tail_files
from devservers.prosody import die_with_parent

SUPERUSER = "phonepresence"


class ServerStartError(RuntimeError):
    pass


def postgres_bin() -> Path:
    """The newest installed /usr/lib/postgresql/<version>/bin that has initdb and postgres."""
    root = Path("/usr/lib/postgresql")
    candidates = []
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.isdigit() and (entry / "bin" / "initdb").exists():
                candidates.append((int(entry.name), entry / "bin"))
    if not candidates:
        raise ServerStartError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; make test installs it)"
        )
    return max(candidates)[1]


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerStartError("running as root and neither a 'postgres' nor a 'nobody' account exists")


@dataclass
class PostgresServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    datadir: Path | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _popen_user(self) -> dict[str, int]:
        account = _run_as()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> None:
        binaries = postgres_bin()
        account = _run_as()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.datadir is None:  # a restart keeps the data
            base = Path(tempfile.mkdtemp(prefix="phonepresence-pg-"))
            if account is not None:
                os.chown(base, account.pw_uid, account.pw_gid)
            self.datadir = base
            init = subprocess.run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(base / "data"),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                cwd=base,
                **self._popen_user(),  # type: ignore[arg-type]
            )
            if init.returncode != 0:
                raise ServerStartError(f"initdb failed: {init.stdout}{init.stderr}")
        log = open(self.log_path, "ab")  # noqa: SIM115  # lives as long as the process
        self.process = subprocess.Popen(
            [
                str(binaries / "postgres"),
                "-D",
                str(self.datadir / "data"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.datadir),  # the unix socket stays in the temp folder
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.datadir,
            preexec_fn=die_with_parent,  # a throwaway server never outlives its owner
            **self._popen_user(),  # type: ignore[arg-type]
        )
        log.close()
        try:
            # Asked on its own unix socket: a port taken by another server would accept too.
            wait_for_ports([self.port], timeout, lambda: self.alive)
            deadline = time.monotonic() + timeout
            while not self._accepts(binaries):
                if not self.alive or time.monotonic() > deadline:
                    raise RuntimeError("not accepting connections on its socket (exited or still starting)")
                time.sleep(0.05)
        except RuntimeError as exc:
            self.stop()
            raise ServerStartError(f"PostgreSQL did not start: {exc}\n{self.log_tail()}") from None

    def _accepts(self, binaries: Path) -> bool:
        assert self.datadir is not None
        probe = [str(binaries / "pg_isready"), "-q", "-h", str(self.datadir), "-p", str(self.port)]
        return subprocess.run(probe, check=False, timeout=10).returncode == 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: sessions are ended, as when an operator stops the service);
        SIGKILL if it lingers. The data folder stays until :meth:`remove`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def _pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers), by /proc."""
        assert self.process is not None
        root = self.process.pid
        pids = [root]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # Field 4 is the parent pid; the command name (field 2) may hold spaces: split after ")".
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == root:
                    pids.append(int(stat.parent.name))
        return pids

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the server and every process of it for the block: connections stay open and
        nothing answers, as across a network partition. Always SIGCONTs."""
        if not self.alive:
            raise RuntimeError("the server is not running")
        pids = self._pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.stop()
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None

    def log_tail(self, lines: int = 80) -> str:
        return tail_files((self.log_path,), lines)

    async def new_database(self) -> str:
        """A fresh empty database; its URL."""
        import asyncpg  # the test dependency is only needed where PostgreSQL is used

        name = "t_" + uuid.uuid4().hex[:16]
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)
