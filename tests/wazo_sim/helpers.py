"""Plain-aiohttp helpers to talk to the simulator like any Wazo client would.

Every REST answer read through :class:`WazoHttp` is checked against Wazo's published spec (when
the spec folder is there), so each test also checks the conformance of the paths it uses.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.wazo_specs import UncheckedSpec, WazoSpec, spec_check
from wazo_sim.app import WazoSimulator

SERVICE_SPECS = {"auth": "wazo-auth", "calld": "wazo-calld", "chatd": "wazo-chatd", "confd": "wazo-confd"}

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
CAROL = "33333333-3333-4333-8333-333333333333"
TENANT = "a1b2c3d4-0000-4000-8000-00000000000a"
SERVICE_LOGIN = ("phonepresence", "phonepresence-pass")
PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass", "carol": "carol-pass", **dict([SERVICE_LOGIN])}


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class WazoHttp:
    """REST calls to one simulator, validated against the spec of the service called."""

    def __init__(self, session: aiohttp.ClientSession, sim: WazoSimulator) -> None:
        self.session = session
        self.sim = sim

    async def login(self, username: str, expiration: int | None = None) -> str:
        """A token for one of the demo users (or the service account)."""
        return await self.login_with(username, PASSWORDS[username], expiration)

    async def login_with(self, username: str, password: str, expiration: int | None = None) -> str:
        body = {} if expiration is None else {"expiration": expiration}
        reply = await self.token_request(username, password, body)
        assert reply.status == 200, reply.body
        return str(reply.body["data"]["token"])

    async def token_request(self, login: str, password: str, body: Any) -> Reply:
        basic = base64.b64encode(f"{login}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        return await self.call("post", "auth", "/token", json_body=body, headers=headers, validate=False)

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        validate: bool = True,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["X-Auth-Token"] = token
        url = self.sim.url(service) + path
        data = json.dumps(json_body) if json_body is not None else None
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, url, data=data, params=params, headers=all_headers
        ) as response:
            text = await response.text()
            body = json.loads(text) if text else None
            reply = Reply(response.status, body, response.headers)
        if validate and service in SERVICE_SPECS and reply.status != 401:
            # 401 comes from the shared auth layer, which the service specs do not describe.
            spec = self.spec(service)
            spec.validate_response(method, spec.find_template(method, path), reply.status, reply.body)
        return reply

    @staticmethod
    def spec(service: str) -> WazoSpec | UncheckedSpec:
        return spec_check(SERVICE_SPECS[service])


class EventStream:
    """A websocketd v2 client: connect, subscribe, start, then read frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._pings = 0

    @classmethod
    async def open(
        cls, session: aiohttp.ClientSession, sim: WazoSimulator, token: str, names: tuple[str, ...] = ("*",)
    ) -> EventStream:
        ws = await session.ws_connect(f"{sim.websocket_url}?token={token}&version=2")
        stream = cls(ws)
        assert await stream.frame() == {"op": "init", "code": 0, "data": {"version": 2}}
        for name in names:
            await ws.send_json({"op": "subscribe", "data": {"event_name": name}})
            assert await stream.frame() == {"op": "subscribe", "code": 0, "data": None}
        await ws.send_json({"op": "start"})
        assert await stream.frame() == {"op": "start", "code": 0, "data": None}
        return stream

    async def frame(self, timeout: float = 10.0) -> Any:
        message = await self.ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message}"
        return json.loads(message.data)

    async def event(self, name: str, timeout: float = 10.0, **data_match: Any) -> dict[str, Any]:
        """The next event called ``name`` whose data has the given key/values; others are kept."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, (
                f"no {name} {data_match} within {timeout}s; saw {[e['name'] for e in self.events]}"
            )
            frame = await self.frame(remaining)
            assert frame["op"] == "event", frame
            self.events.append(frame["data"])
            body = frame["data"]
            if body["name"] == name and all(body["data"].get(k) == v for k, v in data_match.items()):
                return body

    async def drain(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every event published before this call (and not read yet), in order.

        A ping/pong round trip is the barrier: websocketd queues events and replies on one
        ordered outbox, and the simulator publishes synchronously, so every event published
        before the ping is in front of the pong. No quiet period: "nothing else came" holds.
        """
        self._pings += 1
        payload = f"drain-{self._pings}"
        await self.ws.send_json({"op": "ping", "data": {"payload": payload}})
        bodies = []
        while True:
            frame = await self.frame(timeout)
            if frame["op"] == "pong" and frame["data"] == {"payload": payload}:
                return bodies
            assert frame["op"] == "event", frame
            self.events.append(frame["data"])
            bodies.append(frame["data"])

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Wait for the server's close frame; return (code, reason)."""
        while True:
            message = await self.ws.receive(timeout=timeout)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code, str(message.extra or "")

    async def close(self) -> None:
        await self.ws.close()
