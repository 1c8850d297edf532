"""Keeps the component connected: reconnects with backoff and jitter, whatever ended the stream.

slixmpp retries a failed TCP connect on its own fixed schedule but does nothing when an
established stream is lost (server restart, network cut, stream error). This supervisor owns
every retry instead: one loop, one backoff policy, one log line per event that explains it.

A half-open connection (the server frozen or gone behind a dead network path, with no FIN or
RST ever arriving) looks like a quiet but healthy stream: writes still succeed into the socket
buffer. So while online the supervisor pings the server (XEP-0199, on the component stream)
every ``keepalive_interval`` seconds; no answer within ``keepalive_timeout`` ends the stream
and the usual reconnect follows. Any answer counts, an error too: it proves the server reads.
The same bound applies to the handshake: a server that accepts the TCP connection (its kernel
does, even when the process is stopped) but never answers the stream is given up on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slixmpp import JID, ComponentXMPP
from slixmpp.exceptions import IqError, IqTimeout

from presence.backoff import Backoff
from presence.waiting import wait_event

log = logging.getLogger(__name__)


class ConnectionSupervisor:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        host: str,
        port: int,
        backoff: Backoff,
        ping_target: str | None = None,
        keepalive_interval: float = 30.0,
        keepalive_timeout: float = 30.0,
    ) -> None:
        self.xmpp = xmpp
        self.host = host
        self.port = port
        self.backoff = backoff
        self.ping_target = ping_target  # a domain the server answers for; None: no keepalive
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.dead_links = 0  # streams ended because the server stopped answering, for tests
        self.online = asyncio.Event()  # set while the handshake is accepted and the stream is up
        self.sessions = 0  # completed handshakes since start, for admin figures and tests
        self._stopping = asyncio.Event()
        self._stream_error: str | None = None
        # Told before each keepalive ping is written (returns a mark) and when it is answered:
        # the answer proves the server read everything written before the ping (the publisher
        # uses it to resend, after a reconnect, only what may not have arrived).
        self.on_ping_sent: Callable[[], int] | None = None
        self.on_pong: Callable[[int], None] | None = None

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until :meth:`stop`."""
        while not self._stopping.is_set():
            outcome = await self._one_stream()
            if self._stopping.is_set():
                break
            delay = self.backoff.next_delay()
            log.warning(
                "XMPP component stream to %s:%d ended (%s); reconnecting in %.1f s",
                self.host,
                self.port,
                outcome,
                delay,
            )
            await wait_event(self._stopping, delay)

    async def stop(self, wait: float = 2.0) -> None:
        """Close the stream politely (flushing what is queued) and stop reconnecting."""
        self._stopping.set()
        self.xmpp.cancel_connection_attempt()
        if self.online.is_set():
            await self.xmpp.disconnect(wait=wait, reason="shutting down")
        elif self.xmpp.transport is not None:
            # Stopped mid-handshake: nothing to flush, but the socket is open, and the server
            # would finish the handshake later and keep our name taken while it stays open.
            self.xmpp.abort()
        self.online.clear()

    async def _one_stream(self) -> str:
        """Run one connection from attempt to end; return why it ended."""
        ended: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._stream_error = None

        def finish(reason: str) -> None:
            if not ended.done():
                ended.set_result(reason)

        def on_session_start(_: Any) -> None:
            self.sessions += 1
            self.backoff.reset()
            self.online.set()
            log.info("connected to the XMPP server as %s", self.xmpp.boundjid.bare)

        def on_stream_error(error: Any) -> None:
            condition = error["condition"]
            self._stream_error = condition
            if condition == "conflict":
                log.warning(
                    "the XMPP server says %s is already connected (an old instance not yet timed out, "
                    "or a second one running); will retry",
                    self.xmpp.boundjid.bare,
                )
            elif condition == "not-authorized":
                log.error(
                    "the XMPP server refused the handshake for %s (not-authorized): the component "
                    "secret does not match the server's configuration",
                    self.xmpp.boundjid.bare,
                )
            else:
                log.error("stream error from the XMPP server: %s %s", condition, error["text"] or "")

        def on_connection_failed(reason: Any) -> None:
            finish(f"connection failed: {reason}")

        def on_disconnected(reason: Any) -> None:
            self.online.clear()
            detail = self._stream_error or reason or "connection closed"
            finish(f"disconnected: {detail}")

        handlers = (
            ("session_start", on_session_start),
            ("stream_error", on_stream_error),
            ("connection_failed", on_connection_failed),
            ("disconnected", on_disconnected),
        )
        for name, handler in handlers:
            self.xmpp.add_event_handler(name, handler)
        stop_waiter: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        online_waiter: asyncio.Future[Any] = asyncio.ensure_future(self.online.wait())
        keepalive: asyncio.Task[str] | None = None
        try:
            self.xmpp.connect(self.host, self.port)
            done, _ = await asyncio.wait(
                [ended, stop_waiter, online_waiter],
                timeout=self.keepalive_timeout if self.ping_target else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                return self._give_up(f"no answer to the stream handshake within {self.keepalive_timeout:g} s")
            waiting: list[asyncio.Future[Any]] = [ended, stop_waiter]
            if online_waiter in done and self.ping_target:
                keepalive = asyncio.create_task(self._keepalive(self.ping_target), name="xmpp-keepalive")
                waiting.append(keepalive)  # it returns only after giving the stream up
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if keepalive is not None and keepalive.done():
                if not keepalive.cancelled() and keepalive.exception() is None:
                    return keepalive.result()  # the cause, even if `disconnected` (its effect) came first
                # A ping cut short by the stream closing, or a bug: the stream's own end says why.
                log.debug("keepalive stopped: %r", None if keepalive.cancelled() else keepalive.exception())
                await asyncio.wait([ended, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_waiter.cancel()
            online_waiter.cancel()
            if keepalive is not None:
                keepalive.cancel()
            # slixmpp: its own TCP retry loop would run beside ours; this loop decides when to retry.
            self.xmpp.cancel_connection_attempt()
            for name, handler in handlers:
                self.xmpp.del_event_handler(name, handler)
        return str(ended.result()) if ended.done() else "stopping"

    async def _keepalive(self, target: str) -> str:
        """Ping the server while the stream is up; give the stream up at the first unanswered ping."""
        ping = self.xmpp.plugin["xep_0199"]
        while True:
            await asyncio.sleep(self.keepalive_interval)
            mark = self.on_ping_sent() if self.on_ping_sent is not None else None
            try:
                await ping.send_ping(JID(target), ifrom=self.xmpp.boundjid, timeout=self.keepalive_timeout)
            except IqError:
                pass  # an error reply is a reply: the server is reading our stream
            except IqTimeout:
                return self._give_up(
                    f"no answer to a ping within {self.keepalive_timeout:g} s (half-open connection)"
                )
            if mark is not None and self.on_pong is not None:
                self.on_pong(mark)

    def _give_up(self, why: str) -> str:
        """End a stream the server no longer answers; the run loop reconnects as for any loss."""
        self.dead_links += 1
        self.online.clear()
        # abort, not disconnect: a polite close would wait for a server that does not answer.
        self.xmpp.cancel_connection_attempt()
        self.xmpp.abort()
        return f"gave up: {why}"
