"""A throwaway Radicale 3.9 (CalDAV) on 127.0.0.1, started from a temp folder by the tests.

htpasswd users (each owns their collections) plus a service account that may read everyone's
calendars, as a company would give the component. Nothing is skipped when Radicale fails to
start: :meth:`RadicaleServer.start` raises with the server's log. Meetings are put in place with
plain CalDAV requests (:meth:`put_event`), not with the client library under test.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devservers.net import free_port, wait_for_ports
from devservers.process import tail_files, terminate
from devservers.prosody import ServerStartError, die_with_parent

SERVICE_USER = "phonepresence"
SERVICE_PASSWORD = "pw-phonepresence-caldav"
USERS = {"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"}
CALENDAR = "work"

# First matching section wins. The service account reads every user's principal and calendars;
# each user does anything in their own.
RIGHTS = f"""[service-principal]
user: {SERVICE_USER}
collection: {SERVICE_USER}
permissions: RW

[service-reads-all]
user: {SERVICE_USER}
collection: [^/]*(/[^/]+)?
permissions: Rr

[root]
user: .+
collection:
permissions: R

[own-principal]
user: .+
collection: {{user}}
permissions: RW

[own-calendars]
user: .+
collection: {{user}}/[^/]+
permissions: rw
"""


@dataclass
class RadicaleServer:
    workdir: Path
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    service_user: str = SERVICE_USER
    service_password: str = SERVICE_PASSWORD
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calendar_url(self, user: str, calendar: str = CALENDAR) -> str:
        return f"{self.base_url}/{user}/{calendar}/"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config"

    @property
    def log_path(self) -> Path:
        return self.workdir / "console.log"

    def _write_config(self) -> None:
        accounts = {**self.users, self.service_user: self.service_password}
        (self.workdir / "users").write_text("".join(f"{u}:{p}\n" for u, p in accounts.items()))
        (self.workdir / "rights").write_text(RIGHTS)
        # Radicale's parser rejects inline comments: keep them on their own lines.
        self.config_path.write_text(
            f"""[server]
hosts = 127.0.0.1:{self.port}

[auth]
type = htpasswd
htpasswd_filename = {self.workdir}/users
htpasswd_encryption = plain
# the default 1 s delay after each 401 stalls every client's first (unauthenticated) request
delay = 0

[rights]
type = from_file
file = {self.workdir}/rights

[storage]
filesystem_folder = {self.workdir}/collections

[web]
type = none

[logging]
level = warning
mask_passwords = True
"""
        )

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        console = open(self.log_path, "ab")  # noqa: SIM115  # lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.config_path)],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            preexec_fn=die_with_parent,  # a throwaway server never outlives its owner
        )
        console.close()
        try:
            wait_for_ports([self.port], timeout, lambda: self.alive)
        except RuntimeError as exc:
            self.stop()
            raise ServerStartError(f"Radicale did not start: {exc}\n{self.log_tail()}") from None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server we started (by PID); SIGKILL if it lingers."""
        if self.process is None:
            return
        terminate(self.process, timeout)
        self.process = None

    def log_tail(self, lines: int = 80) -> str:
        return tail_files([self.log_path], lines)

    # --- plain CalDAV requests for the tests ------------------------------------------------------

    def request(self, user: str, method: str, url: str, body: bytes = b"", content_type: str = "") -> int:
        """One request as ``user`` (their password); returns the status, raises on 4xx/5xx."""
        password = self.users.get(user) if user != self.service_user else self.service_password
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body or None, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310  # loopback test server
                return int(response.status)
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {url} as {user}: HTTP {error.code}\n{self.log_tail(20)}") from None

    def make_calendar(self, user: str, calendar: str = CALENDAR) -> str:
        url = self.calendar_url(user, calendar)
        self.request(user, "MKCALENDAR", url)
        return url

    def put_event(self, user: str, uid: str, ics: str, calendar: str = CALENDAR) -> str:
        """Create or replace the object ``<uid>.ics`` in the user's calendar; returns its URL."""
        url = f"{self.calendar_url(user, calendar)}{uid}.ics"
        self.request(user, "PUT", url, ics.encode(), "text/calendar; charset=utf-8")
        return url

    def delete_event(self, user: str, uid: str, calendar: str = CALENDAR) -> None:
        self.request(user, "DELETE", f"{self.calendar_url(user, calendar)}{uid}.ics")
