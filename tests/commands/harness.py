"""Click-to-call test harness: a simulator that records the origination bodies it receives, a
world with an unprovisioned chat user and two Bobs, and helpers to drive ad-hoc commands."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slixmpp import ClientXMPP

from wazo_sim.app import WazoSimulator, build_app
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config

ORIGINATE_PATH = "/api/calld/1.0/calls"
USER_PATH = "/api/confd/1.1/users/"


# A second Bob, with an extension and a mobile (+33 6 12 34 56 78) in Wazo.
BOB_MARTIN: dict[str, object] = {
    "id": 4,
    "uuid": "44444444-4444-4444-8444-444444444444",
    "firstname": "Bob",
    "lastname": "Martin",
    "email": "bob.martin@example.test",
    "username": "bobm",
    "password": "bobm-pass",
    "exten": "1004",
    "context": "default",
    "line_id": 14,
    "line_name": "bobm-desk",
    "mobile_phone_number": "+33612345678",
}


def two_bobs_world() -> SimConfig:
    """The demo world without carol (a chat user with no Wazo user) and with a second Bob who has
    an extension and a mobile: "bob" then matches three numbers."""
    import tomllib

    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["users"] = [u for u in raw["users"] if u["username"] != "carol"]
    raw["users"].append(dict(BOB_MARTIN))
    return parse_config(raw)


class RecordingSimulator(WazoSimulator):
    """The Wazo simulator, plus a log of every origination request body with its arrival time."""

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.originations: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.on_origination: Callable[[dict[str, Any]], None] | None = None
        self.call_lists = 0  # GET /calls (calld's tenant-wide list) received
        self.user_reads = 0  # GET /users/{uuid} (confd, one user) received

    async def start(self) -> None:
        app = build_app(self.core)

        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if request.method == "GET" and request.path == ORIGINATE_PATH:
                self.call_lists += 1
            if request.method == "GET" and request.path.startswith(USER_PATH):
                self.user_reads += "/" not in request.path[len(USER_PATH) :]
            if request.method == "POST" and request.path == ORIGINATE_PATH:
                self.arrivals.append(time.perf_counter())
                body = await request.json()
                self.originations.append(body)
                if self.on_origination is not None:
                    self.on_origination(body)
            return await handler(request)

        app.middlewares.append(record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = int(self._runner.addresses[0][1])


def submit_form(client: ClientXMPP, **values: str) -> Any:
    form = client.plugin["xep_0004"].make_form(ftype="submit")
    for var, value in values.items():
        form.add_field(var=var, value=value)
    return form


class Adhoc:
    """One user's ad-hoc command session with the component, over the wire."""

    def __init__(self, client: ClientXMPP, component: str) -> None:
        self.client = client
        self.component = component
        self.node = ""
        self.sessionid: str | None = None

    async def execute(self, node: str, **prefill: str) -> Any:
        self.node = node
        payload = submit_form(self.client, **prefill) if prefill else None
        iq = await self.client.plugin["xep_0050"].send_command(
            self.component, node, action="execute", payload=payload, timeout=10
        )
        self.sessionid = iq["command"]["sessionid"]
        return iq

    async def act(self, action: str, **values: str) -> Any:
        payload = submit_form(self.client, **values) if values else None
        return await self.client.plugin["xep_0050"].send_command(
            self.component, self.node, action=action, payload=payload, sessionid=self.sessionid, timeout=10
        )


def status(iq: Any) -> str:
    return str(iq["command"]["status"])


def notes(iq: Any) -> list[tuple[str, str]]:
    return [(str(kind), str(text)) for kind, text in iq["command"]["notes"]]


def fields(iq: Any) -> dict[str, Any]:
    return dict(iq["command"]["form"].get_fields())


def options(iq: Any, var: str) -> list[tuple[str, str]]:
    return [(o["value"], o["label"]) for o in fields(iq)[var]["options"]]


def two_lines_and_mobile_world(alice_mobile: str = "0612345678") -> SimConfig:
    """The demo world where alice has a desk phone (line 11, her main line), a soft phone (line 21)
    and a mobile that the "default" context lets out (0 + 9 digits, as a French Wazo); bob has no
    mobile."""
    import tomllib

    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    for user in raw["users"]:
        if user["username"] == "alice":
            user["lines"] = [
                {"id": 11, "name": "alice-desk", "exten": "1001", "context": "default"},
                {"id": 21, "name": "alice-soft", "exten": "1001", "context": "default"},
            ]
            user["mobile_phone_number"] = alice_mobile
    raw["outcalls"] = [{"context": "default", "patterns": ["_0XXXXXXXXX"]}]
    return parse_config(raw)
