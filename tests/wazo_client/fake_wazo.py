"""A tiny scriptable Wazo (auth, chatd, calld, confd, websocketd v2) for the client's unit tests.

Unlike ``wazo_sim`` it has no PBX logic: each test says exactly what the server answers, and
the server records every request so tests can check what the client sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from presence.sources.wazo.config import Secret, WazoSettings

USERNAME = "svc-presence"
PASSWORD = "s3cret-Pa55"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeWazo:
    token_lifetime_s: float = 3600.0
    auth_failures: int = 0  # answer 503 to this many token requests first
    chatd_not_initialized: int = 0  # answer 503 not-initialized to this many presence lists
    presences: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    presence_list_delay_s: float = 0.0  # to push events while the client resynchronises
    # (method, path) -> (status, raw body text) for any other route
    canned: dict[tuple[str, str], tuple[int, str | bytes]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    ws_frames_in: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    tokens_issued: list[str] = field(default_factory=list)
    tokens_issued_at: list[float] = field(default_factory=list)  # event-loop time of each
    ws_connections: int = 0
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _started: set[int] = field(default_factory=set)
    _server: TestServer | None = None
    _activity: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after each request or frame."""
        async with asyncio.timeout(timeout), self._activity:
            await self._activity.wait_for(predicate)

    async def _touch(self) -> None:
        async with self._activity:
            self._activity.notify_all()

    async def __aenter__(self) -> FakeWazo:
        app = web.Application()
        app.router.add_route("GET", "/api/websocketd/", self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        assert self._server is not None
        await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def settings(self, **overrides: Any) -> WazoSettings:
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "username": USERNAME,
            "password": Secret(PASSWORD),
            "request_timeout_s": 2.0,
            "reconnect_initial_delay_s": 0.01,
            "reconnect_max_delay_s": 0.05,
        }
        values.update(overrides)
        return WazoSettings(**values)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def revoke_all_tokens(self) -> None:
        self.valid_tokens.clear()

    # --- REST ------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        await self._touch()
        key = (request.method, request.path)
        if key == ("POST", "/api/auth/0.1/token"):
            return self._token(request, body)
        if request.headers.get("X-Auth-Token") not in self.valid_tokens:
            return web.json_response(
                {"error_id": "unauthorized", "message": "Unauthorized", "details": {}}, status=401
            )
        if key in self.canned:
            status, raw = self.canned[key]
            if isinstance(raw, bytes):  # exact bytes, whatever their encoding
                return web.Response(status=status, body=raw, content_type="application/json")
            return web.Response(status=status, text=raw, content_type="application/json")
        if key == ("GET", "/api/chatd/1.0/users/presences"):
            if self.chatd_not_initialized > 0:
                self.chatd_not_initialized -= 1
                return web.json_response(
                    {"error_id": "not-initialized", "message": "Presences are not initialized"},
                    status=503,
                )
            items = [dict(p) for p in self.presences]  # read now, answer later: a snapshot
            if self.presence_list_delay_s:
                await asyncio.sleep(self.presence_list_delay_s)
            return web.json_response({"items": items, "filtered": 0, "total": 0})
        if key == ("GET", "/api/calld/1.0/calls"):
            return web.json_response({"items": self.calls})
        return web.json_response({"error_id": "not-found", "message": "no such route"}, status=404)

    def _token(self, request: web.Request, body: Any) -> web.Response:
        if self.auth_failures > 0:
            self.auth_failures -= 1
            return web.json_response({"reason": ["auth is starting"], "status_code": 503}, status=503)
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if auth != expected:
            return web.json_response({"reason": ["Authentication Failed"], "status_code": 401}, status=401)
        token = str(uuid.uuid4())
        self.valid_tokens.add(token)
        self.tokens_issued.append(token)
        self.tokens_issued_at.append(asyncio.get_running_loop().time())
        now = datetime.now(UTC).replace(tzinfo=None)
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
        return web.json_response(
            {
                "data": {
                    "token": token,
                    "auth_id": "svc",
                    "utc_issued_at": now.strftime(fmt),
                    "utc_expires_at": (now + timedelta(seconds=self.token_lifetime_s)).strftime(fmt),
                    "acl": ["websocketd"],
                    "metadata": {"purpose": "external_api"},
                }
            }
        )

    # --- websocketd ------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connections += 1
        token = request.query.get("token") or request.headers.get("X-Auth-Token")
        if request.query.get("version") != "2":
            await ws.close(code=4004)
            return ws
        if token not in self.valid_tokens:
            await ws.close(code=4002, message=b"authentication failed")
            return ws
        self._sockets.append(ws)
        await ws.send_json({"op": "init", "code": 0, "data": {"version": 2}})
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                self.ws_frames_in.append(frame)
                await self._touch()
                op = frame.get("op")
                if op == "start":
                    self._started.add(id(ws))
                    await self._touch()
                    await ws.send_json({"op": "start", "code": 0, "data": None})
                elif op in ("subscribe", "token"):
                    if op == "token" and frame["data"]["token"] not in self.valid_tokens:
                        await ws.close(code=4002)
                        break
                    await ws.send_json({"op": op, "code": 0, "data": None})
                elif op == "ping":
                    await ws.send_json({"op": "pong", "code": 0, "data": frame["data"]})
        finally:
            self._sockets.remove(ws)
            self._started.discard(id(ws))
        return ws

    @property
    def started_sockets(self) -> int:
        return sum(1 for ws in self._sockets if id(ws) in self._started)

    async def send_raw(self, text: str) -> None:
        for ws in list(self._sockets):
            if id(ws) in self._started:
                await ws.send_str(text)

    async def push(self, name: str, data: Any) -> None:
        """Publish a bus event as websocketd v2 frames it (reference wazo-api.md §4)."""
        message = {"name": name, "origin_uuid": "wazo-uuid", "required_acl": "events.x", "data": data}
        await self.send_raw(json.dumps({"op": "event", "code": 0, "data": message}))

    async def drop(self, code: int = 1011) -> None:
        for ws in list(self._sockets):
            await ws.close(code=code)
