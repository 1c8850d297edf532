"""Instances of an active/standby pair as real ``phonepresence run`` processes (PostgreSQL store,
Prosody, the Wazo simulator), with their ops endpoints: for the failover test and its benchmark."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from devservers.net import free_port
from devservers.prosody import ProsodyServer
from wazo_sim.app import WazoSimulator

REPO = Path(__file__).resolve().parents[1]
SERVICE_PASSWORD = "phonepresence-pass"  # the simulator's demo service account


class Instance:
    """One ``phonepresence run`` process with its own ops port and log file."""

    def __init__(
        self,
        server: ProsodyServer,
        sim: WazoSimulator,
        url: str,
        workdir: Path,
        name: str,
        extra_toml: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.ops_port = free_port()
        self.log = workdir / f"{name}.log"
        self.config = workdir / f"{name}.toml"
        # The pair's configuration: the same for both but for the ops port (one host here).
        self.config.write_text(
            f'[component]\njid = "{server.component}"\nserver_port = {server.component_port}\n'
            "reconnect_min_delay = 0.05\nreconnect_max_delay = 0.5\n"
            f'[store]\nurl = "{url}"\n'
            f'[wazo]\nenabled = true\nbase_url = "{sim.base_url}"\nusername = "phonepresence"\n'
            "[presence]\nprivilege_grace = 0.3\n"
            f'[ops]\nenabled = true\nport = {self.ops_port}\n[logging]\nlevel = "info"\n' + extra_toml
        )
        env = {
            **server.environment_for_component(),
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xmpp_component.cli", "run", "--config", str(self.config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def get(self, route: str) -> tuple[int, str]:
        """(status, body) of an ops route; (0, "") while nothing listens."""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.ops_port}{route}", timeout=aiohttp.ClientTimeout(2)) as r,
            ):
                return r.status, await r.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def wait_route(self, route: str, status: int, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            got = await self.get(route)
            if got[0] == status and text in got[1]:
                return
            assert self.process.poll() is None, f"the instance exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, (
                f"{route} never answered {status} {text!r} (last {got}):\n{self.log_tail()}"
            )
            await asyncio.sleep(0.05)

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, (
                f"the instance did not exit within {timeout} s:\n{self.log_tail()}"
            )
            await asyncio.sleep(0.05)
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL (by PID): no shutdown code runs, the sockets are closed by the kernel."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
