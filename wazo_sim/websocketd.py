"""wazo-websocketd: the event stream at ``/api/websocketd/`` (reference wazo-api.md §3).

One :class:`WebsocketdSession` per connection: authenticate, send ``init``, answer the client's
ops, forward the bus events its token may see once ``start`` was received, and re-check the
token on websocketd's dynamic schedule (close 4003 when it expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from wazo_sim.bus import BusEvent, token_receives
from wazo_sim.core import SimCore, core_of
from wazo_sim.tokens import Token

log = logging.getLogger(__name__)

PATH = "/api/websocketd/"
REQUIRED_ACL = "websocketd"
PING_INTERVAL = 60.0  # websocket protocol pings (websocketd's ``websocket.ping_interval``)

CLOSE_NO_TOKEN = 4001
CLOSE_AUTH_FAILED = 4002
CLOSE_AUTH_EXPIRED = 4003
CLOSE_PROTOCOL_ERROR = 4004
CLOSE_BUS_LOST = 1011


class ProtocolError(Exception):
    """The client broke websocketd's JSON protocol: close 4004 without a reason."""


def next_check_delay(remaining: float) -> float:
    """websocketd's ``_DynamicIntervalAuthChecker`` schedule (§3.4)."""
    if remaining <= 0:
        return 15.0
    if remaining < 15:
        return remaining
    if remaining <= 80:
        return min(remaining, 60.0)
    if remaining <= 57600:
        return 0.75 * remaining
    return 43200.0


def _frame(op: str, data: Any = None) -> str:
    return json.dumps({"op": op, "code": 0, "data": data})


def _string_field(message: dict[str, Any], key: str) -> str:
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise ProtocolError(f"data.{key} must be a string")
    return str(data[key])


class WebsocketdSession:
    def __init__(self, core: SimCore, ws: web.WebSocketResponse, token: Token, version: int) -> None:
        self._core = core
        self._ws = ws
        self.token = token
        self._version = version
        self._subscriptions: set[str] = set()
        self._started = False
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._wake_checker = asyncio.Event()
        self._closing = False

    # ------------------------------------------------------------ control API side

    async def close(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            await self._ws.close(code=code, message=reason.encode())

    async def send_raw(self, frame: str) -> None:
        self._outbox.put_nowait(frame)

    def recheck_auth_now(self) -> None:
        self._wake_checker.set()

    # ------------------------------------------------------------ main loop

    async def run(self) -> None:
        unsubscribe = self._core.bus.subscribe(self._on_event)
        self._core.websockets.add(self)
        writer = asyncio.create_task(self._write_loop())
        checker = asyncio.create_task(self._auth_check_loop())
        try:
            await self._ws.send_str(_frame("init", {"version": self._version}))
            await self._read_loop()
        finally:
            unsubscribe()
            self._core.websockets.discard(self)
            for task in (writer, checker):
                task.cancel()
            for task in (writer, checker):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _read_loop(self) -> None:
        async for message in self._ws:
            if message.type != WSMsgType.TEXT:
                await self.close(CLOSE_PROTOCOL_ERROR, "")
                return
            try:
                await self._handle(message.data)
            except ProtocolError as error:
                log.info("websocketd protocol error: %s", error)
                await self.close(CLOSE_PROTOCOL_ERROR, "")
                return

    async def _write_loop(self) -> None:
        while True:
            frame = await self._outbox.get()
            if self._ws.closed:
                return
            await self._ws.send_str(frame)

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            raise ProtocolError("not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("op"), str):
            raise ProtocolError("op must be a string")
        if "data" in message and message["data"] is not None and not isinstance(message["data"], dict):
            raise ProtocolError("data must be an object")
        op = message["op"]
        replies = self._version == 2 or not self._started
        if op == "subscribe":
            self._subscriptions.add(_string_field(message, "event_name"))
            if replies:
                self._outbox.put_nowait(_frame("subscribe"))
        elif op == "start":
            self._started = True
            self._outbox.put_nowait(_frame("start"))
        elif op == "token":
            await self._replace_token(_string_field(message, "token"))
            if replies:
                self._outbox.put_nowait(_frame("token"))
        elif op == "ping":
            payload = _string_field(message, "payload")
            if self._version == 2:
                self._outbox.put_nowait(_frame("pong", {"payload": payload}))
        else:
            raise ProtocolError(f"unknown op {op!r}")

    async def _replace_token(self, token_id: str) -> None:
        token = self._core.tokens.get(token_id)
        if token is None or not token.access.matches(REQUIRED_ACL):
            await self.close(CLOSE_AUTH_FAILED, "authentication failed")
            return
        self.token = token
        self._wake_checker.set()  # reschedule the expiry check for the new token

    def _on_event(self, event: BusEvent, body: dict[str, Any]) -> None:
        # Events before ``start`` are dropped, never buffered (§3.2).
        if not self._started or self._closing:
            return
        if event.name not in self._subscriptions and "*" not in self._subscriptions:
            return
        if not token_receives(self.token, event):
            return
        self._outbox.put_nowait(
            json.dumps({"op": "event", "code": 0, "data": body}) if self._version == 2 else json.dumps(body)
        )

    async def _auth_check_loop(self) -> None:
        cap = self._core.config.auth_check_max_interval
        while True:
            delay = next_check_delay(self.token.remaining(self._core.clock()))
            if cap is not None:
                delay = min(delay, cap)
            self._wake_checker.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_checker.wait(), timeout=delay)
            if self._core.tokens.get(self.token.token) is None:
                await self.close(CLOSE_AUTH_EXPIRED, "authentication expired")
                return


async def websocketd_handler(request: web.Request) -> web.WebSocketResponse:
    core = core_of(request)
    ws = web.WebSocketResponse(heartbeat=PING_INTERVAL)
    await ws.prepare(request)
    version = request.query.get("version", "1")
    if version not in ("1", "2"):
        await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"")
        return ws
    token_id = request.query.get("token") or request.headers.get("X-Auth-Token")
    if not token_id:
        await ws.close(code=CLOSE_NO_TOKEN, message=b"no token")
        return ws
    token = core.tokens.get(token_id)
    if token is None or not token.access.matches(REQUIRED_ACL):
        await ws.close(code=CLOSE_AUTH_FAILED, message=b"authentication failed")
        return ws
    await WebsocketdSession(core, ws, token, int(version)).run()
    return ws


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, websocketd_handler), web.get(PATH.rstrip("/"), websocketd_handler)]
