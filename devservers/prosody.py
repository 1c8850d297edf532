"""A throwaway Prosody 0.12 on 127.0.0.1, started from a temp folder by the tests.

Nothing here is skipped when Prosody is missing or fails: start() raises with the server's log,
and the test run fails, as it must (a skipped real-server test proves nothing).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devservers.net import free_port, wait_for_ports
from devservers.process import tail_files, terminate

DOMAIN = "example.test"
COMPONENT = "phone.example.test"
COMPONENT_SECRET = "component-secret-for-tests"
USERS = {"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"}
# A second host on the same server stands for a federated domain (no s2s needed in tests).
OTHER_DOMAIN = "other.test"
OTHER_USERS = {"mallory": "pw-mallory"}


class ServerStartError(RuntimeError):
    pass


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the process that started it dies.

    A test run or a demo that is killed (SIGKILL, a crashed interpreter) gets no chance to stop
    its servers; without this they would linger on their ports.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ProsodyServer:
    workdir: Path
    domain: str = DOMAIN
    component: str = COMPONENT
    component_secret: str = COMPONENT_SECRET
    privileged: bool = False
    # mod_offline: messages to a user with no session are stored and delivered at their next login.
    offline_storage: bool = False
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    other_domain: str = OTHER_DOMAIN
    other_users: dict[str, str] = field(default_factory=lambda: dict(OTHER_USERS))
    c2s_port: int = field(default_factory=free_port)
    component_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "prosody.cfg.lua"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prosody.log"

    def config_text(self) -> str:
        base = self.workdir
        privilege_host = ""
        privilege_component = ""
        global_modules = '"roster", "saslauth", "disco", "ping", "presence", "message", "iq", "posix"'
        if self.privileged:
            global_modules += ', "privilege"'
            privilege_host = (
                f'  privileged_entities = {{ ["{self.component}"] = '
                '{ roster = "both"; presence = "managed_entity"; message = "outgoing"; } }\n'
            )
            privilege_component = '  modules_enabled = { "privilege" }\n'
        disabled = '"s2s", "tls"' if self.offline_storage else '"s2s", "offline", "tls"'
        if self.offline_storage:
            global_modules += ', "offline"'
        return f"""-- throwaway test instance written by devservers/prosody.py
data_path = "{base}/data"
pidfile = "{base}/prosody.pid"
run_as_root = true
certificates = "{base}/certs"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.log_path}" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
component_interfaces = {{ "127.0.0.1" }}
component_ports = {{ {self.component_port} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
-- TCP_NODELAY: without it small stanzas wait for the peer's delayed ACK (~40 ms)
network_settings = {{ nagle = false }}
modules_enabled = {{ {global_modules} }}
modules_disabled = {{ {disabled} }}
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
limits = {{ }}

VirtualHost "{self.domain}"
{privilege_host}
VirtualHost "{self.other_domain}"

Component "{self.component}"
  component_secret = "{self.component_secret}"
{privilege_component}"""

    def start(self, timeout: float = 30.0) -> None:
        if shutil.which("prosody") is None:
            raise ServerStartError("prosody is not installed (make test installs it with apt-get)")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "certs").mkdir(exist_ok=True)
        self.config_path.write_text(self.config_text())
        console = open(self.workdir / "console.log", "ab")  # noqa: SIM115  # lives as long as the process
        self.process = subprocess.Popen(
            ["prosody", "-F", "--config", str(self.config_path)],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            preexec_fn=die_with_parent,  # a throwaway server never outlives its owner
        )
        console.close()
        try:
            wait_for_ports([self.c2s_port, self.component_port], timeout, lambda: self.alive)
        except RuntimeError as exc:
            self.stop()
            raise ServerStartError(f"Prosody did not start: {exc}\n{self.log_tail()}") from None

    def register_users(self) -> None:
        for user, password in self.users.items():
            self.register(user, password)
        for user, password in self.other_users.items():
            self.register(user, password, self.other_domain)

    def register(self, user: str, password: str, domain: str | None = None) -> None:
        result = subprocess.run(
            [
                "prosodyctl",
                "--config",
                str(self.config_path),
                "register",
                user,
                domain or self.domain,
                password,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise ServerStartError(f"prosodyctl register {user} failed: {result.stdout}{result.stderr}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server we started (by PID); SIGKILL if it lingers."""
        if self.process is None:
            return
        terminate(self.process, timeout)
        self.process = None

    def kill(self) -> None:
        """Crash-stop: the server vanishes without closing streams."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the server (by PID) for the block: its kernel still accepts and ACKs TCP, the
        process answers nothing, as with a hung server or a half-open link. Always SIGCONTs."""
        if self.process is None or not self.alive:
            raise RuntimeError("the server is not running")
        pid = self.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 80) -> str:
        return tail_files((self.log_path, self.workdir / "console.log"), lines)

    def environment_for_component(self) -> dict[str, str]:
        return {**os.environ, "PHONEPRESENCE_COMPONENT_SECRET": self.component_secret}
