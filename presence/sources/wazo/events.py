"""wazo-websocketd v2 event stream over aiohttp, with reconnect and full resynchronisation.

Protocol (reference wazo-api.md §3): connect with the token, wait for ``init``, ``subscribe`` to
each event name, ``start``; events then arrive as ``{"op": "event", "data": <bus message>}``.
Events published while we were not started are lost, so after every ``start`` the stream reads
the full state from chatd and calld and hands it to the sink *before* the events that arrived
meanwhile (they are held back and replayed in order). Replaying every event newer than the
start of the snapshot read makes the final state right whatever the interleaving: presences are
full per-user states and call events carry the whole call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from presence.backoff import Backoff
from presence.model import CallsResynced, PhoneEvent, PresencesResynced
from presence.sources.wazo.auth import TokenKeeper
from presence.sources.wazo.calld import CalldClient
from presence.sources.wazo.chatd import ChatdClient
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError, WazoShapeError, untrusted_certificate
from presence.sources.wazo.parsing import SUBSCRIBED_EVENTS, parse_bus_event

log = logging.getLogger("presence.sources.wazo.events")

EventSink = Callable[[PhoneEvent], Awaitable[None]]

# websocketd close codes (session.py) and what they mean for us.
CLOSE_REASONS = {
    4001: "no token",
    4002: "authentication failed",
    4003: "authentication expired",
    4004: "protocol error",
    1011: "websocketd lost its bus connection",
}
_AUTH_CLOSE_CODES = (4002, 4003)
_MAX_FRAME_PREVIEW = 120


class StreamClosed(Exception):
    """The websocket ended; ``reason`` says how, for the reconnect log line."""

    def __init__(self, reason: str, close_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code


class EventStream:
    """Runs the websocket until :meth:`close`, delivering domain events to ``sink`` in order."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: WazoSettings,
        tokens: TokenKeeper,
        chatd: ChatdClient,
        calld: CalldClient,
        sink: EventSink,
        *,
        event_names: Sequence[str] = SUBSCRIBED_EVENTS,
        backoff: Backoff | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._tokens = tokens
        self._chatd = chatd
        self._calld = calld
        self._sink = sink
        self._event_names = tuple(event_names)
        self._backoff = backoff or Backoff(settings.reconnect_initial_delay_s, settings.reconnect_max_delay_s)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_token: Secret | None = None
        self._held_back: list[PhoneEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_pong = 0.0
        # Set while started and resynchronised; cleared on each disconnection.
        self.synced = asyncio.Event()
        # Set once websocketd confirmed ``start`` on this connection (every event published from
        # then on reaches the sink), with its time.monotonic(); cleared on each disconnection. A
        # read of Wazo's state begun after that instant misses nothing the stream does not tell.
        self.subscribed = asyncio.Event()
        self.subscribed_at: float | None = None
        self.connections = 0
        self.resyncs = 0
        self.reconciliations = 0
        self.events_delivered = 0
        self.events_skipped = 0
        tokens.subscribe(self._on_new_token)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="wazo-event-stream")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff on any failure; forever (until cancelled)."""
        while True:
            try:
                await self._serve_once()
                reason = "closed by the server"
            except StreamClosed as closed:
                reason = closed.reason
            except WazoError as error:
                reason = str(error)
            except aiohttp.ClientConnectorCertificateError as exc:
                reason = untrusted_certificate(str(exc.certificate_error)[:_MAX_FRAME_PREVIEW])
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {str(exc)[:_MAX_FRAME_PREVIEW]}"
            finally:
                self.synced.clear()
                self.subscribed.clear()
                self.subscribed_at = None
                self._held_back = None
                self._ws = None
            delay = self._backoff.next_delay()
            log.warning(
                "Wazo event stream down (%s); reconnecting in %.1f s (attempt %d)",
                reason,
                delay,
                self._backoff.attempts,
            )
            await asyncio.sleep(delay)

    # --- one connection --------------------------------------------------------------------

    async def _serve_once(self) -> None:
        settings = self._settings
        token = await self._tokens.token()
        async with asyncio.timeout(settings.request_timeout_s):
            # The token goes in a header (websocketd reads ?token= first, then X-Auth-Token) so
            # it never shows up in URLs, proxies' access logs or our own log lines.
            ws = await self._session.ws_connect(
                settings.websocketd,
                params={"version": "2"},
                headers={"X-Auth-Token": token.reveal()},
                ssl=settings.tls(),
                autoping=True,
            )
        self._ws, self._ws_token = ws, token
        self.connections += 1
        resync: asyncio.Task[None] | None = None
        pinger = asyncio.create_task(self._keepalive(ws), name="wazo-ws-ping")
        reconciler = asyncio.create_task(self._reconcile_calls(ws), name="wazo-calls-reconcile")
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                await self._expect_op(ws, "init")
                for name in self._event_names:
                    await ws.send_json({"op": "subscribe", "data": {"event_name": name}})
                await ws.send_json({"op": "start"})
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    if await self._handle_frame(message.data) == "start" and resync is None:
                        self.subscribed_at = time.monotonic()
                        self.subscribed.set()
                        self._held_back = []
                        resync = asyncio.create_task(self._resync_or_drop(ws), name="wazo-resync")
                elif message.type is aiohttp.WSMsgType.BINARY:
                    log.warning("Wazo event stream: skipped a binary frame (websocketd sends text)")
                elif message.type is aiohttp.WSMsgType.ERROR:
                    raise StreamClosed(f"websocket error: {ws.exception()!r}")
            code = ws.close_code
            if code in _AUTH_CLOSE_CODES:
                # The token may have been revoked or expired under us: force a fresh one.
                await self._tokens.token_for_request(self._ws_token or token)
            reason = CLOSE_REASONS.get(code or 0, "closed")
            raise StreamClosed(f"close code {code} {reason}", code)
        finally:
            pinger.cancel()
            reconciler.cancel()
            if resync is not None:
                resync.cancel()
            for task in (pinger, reconciler, resync):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if not ws.closed:
                await ws.close()

    async def _expect_op(self, ws: aiohttp.ClientWebSocketResponse, op: str) -> None:
        message = await ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise StreamClosed(f"expected {op!r}, got a {message.type.name} frame", ws.close_code)
        frame = self._decode(message.data)
        if frame is None or frame.get("op") != op:
            raise StreamClosed(f"expected {op!r} first, got {str(message.data)[:_MAX_FRAME_PREVIEW]!r}")

    def _decode(self, text: str) -> dict[str, Any] | None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("op"), str):
            log.warning(
                "Wazo event stream: skipped a frame that is not a JSON object with an 'op': %.*s",
                _MAX_FRAME_PREVIEW,
                text,
            )
            self.events_skipped += 1
            return None
        return frame

    async def _handle_frame(self, text: str) -> str | None:
        """Decode one frame; deliver (or hold back) its event if any; return its op."""
        frame = self._decode(text)
        if frame is None:
            return None
        op: str = frame["op"]
        if op == "event":
            event = self._parse_event(frame.get("data"))
            if event is not None:
                if self._held_back is not None:
                    if len(self._held_back) >= self._settings.max_held_back_events:
                        raise StreamClosed(
                            f"more than {self._settings.max_held_back_events} events arrived "
                            "during a resynchronisation; starting over"
                        )
                    self._held_back.append(event)
                else:
                    await self._deliver(event)
        elif op == "pong":
            self._last_pong = time.monotonic()
        return op

    def _parse_event(self, message: Any) -> PhoneEvent | None:
        if not isinstance(message, dict) or not isinstance(message.get("name"), str):
            log.warning("Wazo event stream: skipped an event without a 'name' (key 'data.name')")
            self.events_skipped += 1
            return None
        name = message["name"]
        try:
            return parse_bus_event(name, message.get("data"))
        except WazoShapeError as exc:
            log.warning(
                "Wazo event stream: skipped malformed %s event: key %r %s", name, exc.key, exc.problem
            )
            self.events_skipped += 1
            return None

    async def _deliver(self, event: PhoneEvent) -> None:
        try:
            await self._sink(event)
        except Exception:
            # A consumer bug must not take the stream down; say which event it choked on.
            log.exception("Wazo event consumer failed on %s", type(event).__name__)
        self.events_delivered += 1

    # --- resynchronisation -----------------------------------------------------------------

    async def _resync_or_drop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Resynchronise; if that fails unexpectedly, drop the stream so that it starts over.

        Events are held back while the resync runs: a resync that died unnoticed would keep
        holding them for ever.
        """
        try:
            await self._resync()
        except Exception:
            log.exception("Wazo resynchronisation failed unexpectedly; reconnecting the event stream")
            await ws.close()

    async def _resync(self) -> None:
        """Read the full state (retrying), deliver it, then replay the events held back."""
        retry = Backoff(self._settings.reconnect_initial_delay_s, self._settings.reconnect_max_delay_s)
        while True:
            try:
                presences = await self._chatd.list_presences()
                calls = await self._calld.list_calls()
                break
            except WazoError as error:
                delay = retry.next_delay()
                log.warning(
                    "Wazo resynchronisation incomplete (%s: %s); retrying in %.1f s",
                    error.endpoint,
                    error.error_id,
                    delay,
                )
                await asyncio.sleep(delay)
        await self._deliver(PresencesResynced(tuple(presences)))
        await self._deliver(CallsResynced(tuple(calls)))
        await self._replay_held_back()
        self.resyncs += 1
        self._backoff.reset()
        self.synced.set()
        log.info(
            "Wazo event stream started and resynchronised (%d presences, %d calls)",
            len(presences),
            len(calls),
        )

    async def _reconcile_calls(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Every ``calls_reconcile_interval_s`` on a synchronised stream, read calld's calls again.

        A call whose ``call_ended`` was lost would otherwise stay for ever. Events arriving during
        the read are held back and replayed after it, as in a resynchronisation, so a call that
        starts or ends meanwhile is right whatever the interleaving.
        """
        interval = self._settings.calls_reconcile_interval_s
        if interval <= 0:
            return
        while not ws.closed:
            await asyncio.sleep(interval)
            if not self.synced.is_set() or self._held_back is not None:
                continue  # a resynchronisation reads the calls anyway
            self._held_back = []
            try:
                calls = await self._calld.list_calls()
            except WazoError as error:
                log.warning(
                    "Wazo calls not reconciled (%s: %s); next try in %.0f s",
                    error.endpoint,
                    error.error_id,
                    interval,
                )
                calls = None
            except BaseException:
                self._held_back = None
                raise
            if calls is not None:
                await self._deliver(CallsResynced(tuple(calls), periodic=True))
            await self._replay_held_back()
            self.reconciliations += 1

    async def _replay_held_back(self) -> None:
        held_back = self._held_back or []
        while held_back:
            await self._deliver(held_back.pop(0))
        # No await between the emptiness check and this line: nothing can slip in between.
        self._held_back = None

    # --- keepalive and token renewal -------------------------------------------------------

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """App-level ping (websocketd >= 20.08 answers ``pong``); a silent server is dropped.

        Proxies (nginx ``proxy_read_timeout 90s``) cut idle connections, and a half-open TCP
        connection would otherwise go unnoticed until the next event that never comes.
        """
        interval = self._settings.ws_ping_interval_s
        self._last_pong = time.monotonic()
        sequence = 0
        while not ws.closed:
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_pong > 2.5 * interval:
                log.warning("Wazo event stream: no pong for %.0f s, dropping the connection", 2.5 * interval)
                await ws.close()
                return
            sequence += 1
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json({"op": "ping", "data": {"payload": str(sequence)}})

    async def _on_new_token(self, token: Secret) -> None:
        """Pass a renewed token to websocketd in place, without reconnecting."""
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_json({"op": "token", "data": {"token": token.reveal()}})
            self._ws_token = token
            log.info("Wazo event stream: renewed token passed to websocketd")
        except (ConnectionError, RuntimeError) as exc:
            log.warning("Wazo event stream: could not pass the renewed token (%s)", type(exc).__name__)
