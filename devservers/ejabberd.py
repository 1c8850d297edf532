"""A throwaway ejabberd 23.01 on 127.0.0.1, started from a temp folder by the tests.

Same interface as :class:`devservers.prosody.ProsodyServer`, so tests can run against both.
Nothing is skipped when ejabberd is missing or fails: start() raises ServerStartError with the log.

How the instance is kept apart from the system service and from other instances:

- config, Mnesia spool, logs and the Erlang cookie ($HOME) all live in one folder, ``rundir``;
- the Erlang node is ``ejabberd_<c2s port>@localhost``; its distribution listens on 127.0.0.1 at a
  free ``ERL_DIST_PORT``, so no epmd daemon is started or needed;
- ``ejabberdctl`` refuses to run as anyone but root or ``ejabberd`` and, as root, re-executes itself
  through ``su`` (which starts a new session, out of reach of our signals). As root we therefore run
  it directly as the ``ejabberd`` user, in a ``rundir`` of its own under the system temp folder
  (``workdir/ejabberd-run`` links to it; the logs are copied back into ``workdir`` at exit).
  ``workdir`` itself cannot be used: pytest keeps /tmp/pytest-of-root at 0700 and resets it to
  0700 whenever any pytest session starts, so the ``ejabberd`` user could not reach it. As a user
  other than root we run in ``workdir`` a copy of ejabberdctl without its user check;
- the whole process tree lives in its own session (``start_new_session``), so stop()/kill() can find
  and end every process of this instance, and only those, by session id.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devservers.net import free_port, wait_for_ports
from devservers.process import tail_files
from devservers.prosody import COMPONENT, COMPONENT_SECRET, DOMAIN, USERS, ServerStartError

__all__ = ["EjabberdServer", "ServerStartError"]

EJABBERDCTL = "/usr/sbin/ejabberdctl"
EJABBERD_USER = "ejabberd"
# Mnesia logs every committed transaction through disk_log, whose write cache is flushed to
# LATEST.LOG by a 2 s timer (OTP disk_log_1:maybe_start_timer). A SIGKILL within that window loses
# the write: a user registered 1 s before kill() was gone after start(), one registered 2.5 s before
# survived. A clean stop() closes the log and loses nothing.
MNESIA_LOG_FLUSH_S = 2.0


def session_pids(sid: int) -> list[int]:
    """PIDs of all live processes whose session id is ``sid`` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parentheses
        fields = data[data.rindex(b")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != b"Z":
            pids.append(int(entry))
    return pids


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class EjabberdServer:
    workdir: Path
    domain: str = DOMAIN
    component: str = COMPONENT
    component_secret: str = COMPONENT_SECRET
    # ejabberd 23.01's mod_privilege speaks XEP-0356 0.2 (urn:xmpp:privilege:1), which slixmpp 1.17
    # ignores; it is configured on request so that tests can show exactly that.
    privileged: bool = False
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    c2s_port: int = field(default_factory=free_port)
    component_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    extra_config: str = ""  # appended verbatim to ejabberd.yml (top-level YAML)
    process: subprocess.Popen[bytes] | None = None
    _registered_at: float = field(default=0.0, repr=False)
    _atexit_hooked: bool = field(default=False, repr=False)
    _rundir: Path | None = field(default=None, repr=False)

    @property
    def node(self) -> str:
        return f"ejabberd_{self.c2s_port}@localhost"

    @property
    def rundir(self) -> Path:
        """Config, spool, logs and cookie: ``workdir``, or (as root) a folder owned by the ejabberd user."""
        if self._rundir is None:
            if self._run_as() is None:
                self._rundir = self.workdir
            else:
                self._rundir = Path(tempfile.mkdtemp(prefix=f"ejabberd-{self.c2s_port}-"))
                link = self.workdir / "ejabberd-run"
                link.unlink(missing_ok=True)
                link.symlink_to(self._rundir)
        return self._rundir

    @property
    def config_dir(self) -> Path:
        return self.rundir / "conf"

    @property
    def config_path(self) -> Path:
        return self.config_dir / "ejabberd.yml"

    @property
    def spool_dir(self) -> Path:
        return self.rundir / "spool"

    @property
    def logs_dir(self) -> Path:
        return self.rundir / "logs"

    @property
    def log_path(self) -> Path:
        return self.logs_dir / "ejabberd.log"

    @property
    def pid_path(self) -> Path:
        return self.rundir / "ejabberd.pid"

    def config_text(self) -> str:
        q = json.dumps  # a JSON string is a valid YAML scalar, whatever it contains
        privilege = ""
        privilege_acl = ""
        if self.privileged:
            privilege_acl = (
                f"  phone_component:\n    server: [{q(self.component)}]\n"
                "access_rules:\n  phone_rule:\n    allow: phone_component\n"
            )
            privilege = (
                "  mod_privilege:\n"
                "    roster: {both: phone_rule}\n"
                "    presence: {managed_entity: phone_rule}\n"
                "    message: {outgoing: phone_rule}\n"
            )
        else:
            privilege_acl = "access_rules:\n"
        return f"""# throwaway test instance written by devservers/ejabberd.py
hosts:
  - {q(self.domain)}
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: false
certfiles: []
acme:
  auto: false
auth_method: internal
auth_password_format: plain
default_db: mnesia
listen:
  -
    port: {self.c2s_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    max_stanza_size: 262144
  -
    port: {self.component_port}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      {q(self.component)}:
        password: {q(self.component_secret)}
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
{privilege_acl}  local:
    allow: local
  c2s:
    allow: all
  register:
    deny: all
# no shaper / c2s_shaper rules: nothing throttles the tests
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
# no mod_stream_mgmt: a vanished client goes offline at once instead of after resume_timeout
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
{privilege}{self.extra_config}"""

    def ctl_config_text(self) -> str:
        return f"""# throwaway test node: no epmd daemon, distribution bound to loopback
ERLANG_NODE={self.node}
ERL_DIST_PORT={self.dist_port}
INET_DIST_INTERFACE=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_PID_PATH={self.pid_path}
EJABBERD_BYPASS_WARNINGS=true
"""

    # --- running as the right user -------------------------------------------------------------

    def _run_as(self) -> pwd.struct_passwd | None:
        """The account to switch to (as root), or None to run as ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(EJABBERD_USER)
        except KeyError:
            raise ServerStartError(f"user {EJABBERD_USER!r} missing: is ejabberd installed?") from None

    def _ctl_script(self) -> str:
        """ejabberdctl itself, or (as a user other than root/ejabberd) a copy without its user check."""
        if os.geteuid() == 0 or pwd.getpwuid(os.geteuid()).pw_name == EJABBERD_USER:
            return EJABBERDCTL
        copy = self.rundir / "ejabberdctl"
        text = Path(EJABBERDCTL).read_text()
        copy.write_text(text.replace(f"INSTALLUSER={EJABBERD_USER}\n", "INSTALLUSER=\n", 1))
        copy.chmod(0o755)
        return str(copy)

    def _ctl(self, *args: str) -> list[str]:
        return [
            self._ctl_script(),
            "--config-dir",
            str(self.config_dir),
            "--ctl-config",
            str(self.config_dir / "ejabberdctl.cfg"),
            "--spool",
            str(self.spool_dir),
            "--logs",
            str(self.logs_dir),
            *args,
        ]

    def _popen_kwargs(self) -> dict[str, object]:
        # HOME holds the per-instance Erlang cookie, shared by the server and ejabberdctl calls
        env = {**os.environ, "HOME": str(self.rundir)}
        kwargs: dict[str, object] = {"env": env, "cwd": self.rundir, "stdin": subprocess.DEVNULL}
        account = self._run_as()
        if account is not None:
            env.update(USER=account.pw_name, LOGNAME=account.pw_name)
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        return kwargs

    def _prepare_workdir(self) -> None:
        for folder in (self.config_dir, self.spool_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        (self.config_dir / "ejabberdctl.cfg").write_text(self.ctl_config_text())
        # ERL_INETRC: resolve "localhost" from the file, as the Debian package does
        (self.config_dir / "inetrc").write_text(
            '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n'
        )
        account = self._run_as()
        if account is None:
            return
        for path in [self.rundir, *self.rundir.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        # 8 s measured on a 2-core machine busy with other test runs (2-3 s idle); a broken
        # config still fails fast (the VM exits and alive turns False).
        if not Path(EJABBERDCTL).exists() or shutil.which("erl") is None:
            raise ServerStartError("ejabberd is not installed (apt-get install ejabberd)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare_workdir()
        self.pid_path.unlink(missing_ok=True)
        console_path = self.rundir / "console.log"
        offset = console_path.stat().st_size if console_path.exists() else 0
        console = open(console_path, "ab")  # noqa: SIM115  # lives as long as the process
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            self._ctl("foreground"),
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self._popen_kwargs(),
        )
        console.close()
        if not self._atexit_hooked:
            # a script that dies without stop() must not leave an Erlang VM behind (it would outlive us)
            atexit.register(self._at_exit)
            self._atexit_hooked = True
        try:
            self._wait_listening(console_path, offset, timeout)
        except RuntimeError as exc:
            self.kill()
            raise ServerStartError(f"ejabberd did not start: {exc}\n{self.log_tail()}") from None

    def _wait_listening(self, console_path: Path, offset: int, timeout: float) -> None:
        """Wait for ejabberd's own "Start accepting" lines for both ports, then for the ports to accept.

        A port that accepts is not enough on its own: once, during a fresh start, both probes
        connected ~0.3 s before ejabberd had opened its listeners (a foreign listener or a TCP
        self-connect on an ephemeral port), and the early stop() then hung in Mnesia's table creation.
        """
        markers = [
            f"127.0.0.1:{self.c2s_port} for ejabberd_c2s",
            f"127.0.0.1:{self.component_port} for ejabberd_service",
        ]
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise RuntimeError("server process exited before listening")
            with open(console_path, "rb") as handle:
                handle.seek(offset)
                output = handle.read().decode(errors="replace")
            if all(marker in output for marker in markers):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no listener on ports {self.c2s_port}/{self.component_port} after {timeout} s"
                )
            time.sleep(0.01)
        wait_for_ports(
            [self.c2s_port, self.component_port], max(deadline - time.monotonic(), 1.0), lambda: self.alive
        )

    def register_users(self) -> None:
        """Register every user; the ejabberdctl calls run in parallel.

        Each takes about 0.5 s on an idle machine but 20-35 s on a 2-core one busy with other
        test runs (measured), hence the generous wait in _finish_register.
        """
        calls = [
            (user, self._spawn_ctl("register", user, self.domain, pw)) for user, pw in self.users.items()
        ]
        errors = [self._finish_register(user, call) for user, call in calls]
        failed = [error for error in errors if error]
        self._registered_at = time.monotonic()
        if failed:
            raise ServerStartError("\n".join(failed))

    def register(self, user: str, password: str) -> None:
        error = self._finish_register(user, self._spawn_ctl("register", user, self.domain, password))
        self._registered_at = time.monotonic()
        if error:
            raise ServerStartError(error)

    def ctl(self, *args: str, timeout: float = 180) -> str:
        """Run one ejabberdctl command against this instance; its output, or ServerStartError."""
        call = self._spawn_ctl(*args)
        try:
            output, _ = call.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            call.kill()
            output, _ = call.communicate()
        if call.returncode != 0:
            raise ServerStartError(f"ejabberdctl {' '.join(args)} failed ({call.returncode}): {output}")
        return output

    def _spawn_ctl(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self._ctl(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **self._popen_kwargs(),
        )

    @staticmethod
    def _finish_register(user: str, call: subprocess.Popen[str]) -> str:
        try:
            output, _ = call.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            call.kill()
            output, _ = call.communicate()
        if call.returncode != 0:
            return f"ejabberdctl register {user} failed ({call.returncode}): {output}"
        return ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def instance_pids(self) -> list[int]:
        """Every live process of this instance (ejabberdctl, beam.smp, erl_child_setup, ...)."""
        if self.process is None:
            return []
        return session_pids(self.process.pid)

    @property
    def beam_pid(self) -> int | None:
        """The Erlang VM (beam.smp) of this instance: where all of ejabberd's CPU time is spent
        (``process`` is the ejabberdctl shell that waits for it)."""
        return self._beam_pid()

    def _beam_pid(self) -> int | None:
        for pid in self.instance_pids():
            if _process_name(pid).startswith("beam"):
                return pid
        return None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the Erlang VM we started (a clean init:stop()); SIGKILL whatever lingers."""
        if self.process is None:
            return
        beam = self._beam_pid()
        if beam is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(beam, signal.SIGTERM)
        elif self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.instance_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.kill()

    def kill(self) -> None:
        """Crash-stop: SIGKILL every process of this instance; clients see their TCP connections drop.

        The VM is killed first and the ejabberdctl shell (its parent, our child) is left to reap it and
        exit: killing the shell first would orphan the VM's corpse to PID 1, which may reap it late.

        Accounts from register() are made durable first (waiting out Mnesia's 2 s log cache if they are
        that recent); other recent writes (e.g. roster changes made by clients in the last 2 s) are
        lost as in a real crash: sleep MNESIA_LOG_FLUSH_S before kill() if a test needs them.
        """
        if self.process is None:
            return
        unflushed = self._registered_at + MNESIA_LOG_FLUSH_S + 0.3 - time.monotonic()
        if unflushed > 0 and self.alive:
            time.sleep(unflushed)
        for _ in range(100):
            others = [pid for pid in self.instance_pids() if pid != self.process.pid]
            if not others:
                break
            for pid in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def _at_exit(self) -> None:
        """End the VM if nobody stopped it; move a private rundir's logs into workdir and remove it."""
        self.kill()
        if self._rundir is not None and self._rundir != self.workdir:
            with contextlib.suppress(OSError):
                shutil.copytree(self.logs_dir, self.workdir / "logs", dirs_exist_ok=True)
                shutil.copy2(self.rundir / "console.log", self.workdir / "console.log")
                (self.workdir / "ejabberd-run").unlink(missing_ok=True)
            shutil.rmtree(self._rundir, ignore_errors=True)

    def discard(self) -> None:
        """stop(), then what the exit hook does now: logs into ``workdir``, a private rundir removed."""
        self.stop()
        self._at_exit()
        self._rundir = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 80) -> str:
        return tail_files((self.log_path, self.logs_dir / "error.log", self.rundir / "console.log"), lines)

    def environment_for_component(self) -> dict[str, str]:
        return {**os.environ, "PHONEPRESENCE_COMPONENT_SECRET": self.component_secret}
