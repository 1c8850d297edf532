"""Wiring: one aiohttp application serving every simulated Wazo service on one loopback port,
under the public nginx prefixes (reference wazo-api.md §1.1), plus :class:`WazoSimulator`."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web

from wazo_sim import http_auth, http_calld, http_chatd, http_confd, http_control, websocketd
from wazo_sim.config import SimConfig, load_config
from wazo_sim.control import SimControl
from wazo_sim.core import CORE_KEY, SimCore
from wazo_sim.http_common import error_middleware

# Base URL of each service relative to the simulator's root, as a client configures it.
SERVICE_PATHS = {
    "auth": http_auth.PREFIX,
    "calld": http_calld.PREFIX,
    "chatd": http_chatd.PREFIX,
    "confd": http_confd.PREFIX,
    "websocketd": websocketd.PATH,
}


def build_app(core: SimCore) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[CORE_KEY] = core
    for module in (http_auth, http_chatd, http_calld, http_confd, http_control, websocketd):
        app.add_routes(module.routes())

    async def close_websockets(_app: web.Application) -> None:
        for session in list(core.websockets):
            await session.close(1001, "server shutdown")

    app.on_shutdown.append(close_websockets)
    return app


class WazoSimulator(SimControl):
    """The simulator in-process: ``async with WazoSimulator() as sim: sim.base_url ...``.

    Binds 127.0.0.1 on a free port unless told otherwise. The control operations of
    :class:`SimControl` are methods of this object.
    """

    def __init__(
        self,
        config: SimConfig | Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not isinstance(config, SimConfig):
            config = load_config(config) if config is not None else load_config()
        self.core = SimCore(config, clock)
        super().__init__(self.core)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Set: serve HTTPS and WSS (as a real Wazo behind its nginx does) with this certificate.
        self.ssl_context = ssl_context

    @property
    def config(self) -> SimConfig:
        return self.core.config

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def url(self, service: str) -> str:
        """Base URL of one service, e.g. ``url("calld")`` -> ``http://127.0.0.1:N/api/calld/1.0``."""
        return self.base_url + SERVICE_PATHS[service]

    @property
    def websocket_url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self._host}:{self.port}{websocketd.PATH}"

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.core), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WazoSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
