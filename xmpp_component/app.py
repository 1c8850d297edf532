"""Wiring: builds the store, the component and its supervisor from a Config, runs until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from store import Store
from xmpp_component.backoff import Backoff
from xmpp_component.component import PhoneComponent
from xmpp_component.config import Config
from xmpp_component.connection import ConnectionSupervisor

log = logging.getLogger(__name__)

ShutdownHook = Callable[[], Awaitable[None]]


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self.xmpp: PhoneComponent | None = None
        self.supervisor: ConnectionSupervisor | None = None
        self._stop_requested = asyncio.Event()
        self.started = asyncio.Event()
        # Run while the stream is still up at shutdown, e.g. to tell subscribers we are leaving.
        self.shutdown_hooks: list[ShutdownHook] = []

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def run(self, install_signal_handlers: bool = True) -> None:
        cfg = self.config
        self.store = await Store(cfg.store.path).open()
        try:
            self.xmpp = PhoneComponent(
                cfg.component.jid,
                cfg.component_secret.reveal(),
                cfg.component.server_host,
                cfg.component.server_port,
            )
            self.supervisor = ConnectionSupervisor(
                self.xmpp,
                cfg.component.server_host,
                cfg.component.server_port,
                Backoff(cfg.component.reconnect_min_delay, cfg.component.reconnect_max_delay),
            )
            if install_signal_handlers:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self.request_stop)
            supervising = asyncio.create_task(self.supervisor.run(), name="xmpp-supervisor")
            self.started.set()
            log.info("phonepresence started for %s", cfg.component.jid)
            await self._stop_requested.wait()
            log.info("stopping")
            await self._shutdown(supervising)
        finally:
            await self.store.close()
            log.info("stopped")

    async def _shutdown(self, supervising: asyncio.Task[None]) -> None:
        assert self.supervisor is not None
        if self.supervisor.online.is_set():
            for hook in self.shutdown_hooks:
                try:
                    await hook()
                except Exception:
                    log.exception("shutdown step %r failed; continuing the shutdown", hook)
        await self.supervisor.stop()
        await supervising
