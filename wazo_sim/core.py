"""The simulator's shared objects, reachable from every HTTP handler and the Python control API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from wazo_sim.bus import Bus, BusEvent
from wazo_sim.config import SimConfig, UserConfig
from wazo_sim.errors import ApiError
from wazo_sim.state import PbxState
from wazo_sim.tokens import TokenStore


class WebsocketSession(Protocol):
    """What the control API needs from an open websocketd connection."""

    async def close(self, code: int, reason: str) -> None: ...

    async def send_raw(self, frame: str) -> None: ...

    def recheck_auth_now(self) -> None: ...


class SimCore:
    """Tokens, PBX state, the bus and the open websockets of one simulator instance."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.tokens = TokenStore(config, clock)
        self.state = PbxState(config, has_session=self.tokens.has_session)
        self.bus = Bus(config.wazo_uuid)
        self.websockets: set[WebsocketSession] = set()
        self.chatd_unavailable_until = 0.0
        self.confd_unavailable_until = 0.0
        # GET /users selections (filtered and sorted) by query, for the users tuple they were
        # made from: see wazo_sim/http_confd.py _selected_users.
        self.user_selections: tuple[tuple[UserConfig, ...], dict[tuple[object, ...], list[UserConfig]]] = (
            (),
            {},
        )
        # Faults for tests: bus events to swallow (name -> how many more), and list bodies that
        # get one malformed item (service -> how many more responses).
        self.events_to_lose: dict[str, int] = {}
        self.malformed_lists: dict[str, int] = {}
        self.user_list_reads = 0  # GET /users answered, for tests counting a client's reads
        self.confd_refused = 0  # requests answered 502 while confd was down

    @property
    def config(self) -> SimConfig:
        """The current world: users come and go (confd writes), so it is the state's."""
        return self.state.config

    def users_changed(self) -> None:
        """After a user was created, edited or deleted: wazo-auth knows the same users."""
        self.tokens.config = self.state.config

    def publish(self, events: list[BusEvent]) -> None:
        kept = []
        for event in events:
            left = self.events_to_lose.get(event.name, 0)
            if left > 0:
                self.events_to_lose[event.name] = left - 1
                continue
            kept.append(event)
        self.bus.publish(kept)

    def take_malformed(self, service: str) -> bool:
        """True (once per fault asked for) when the next list of ``service`` gets a malformed item."""
        left = self.malformed_lists.get(service, 0)
        if left > 0:
            self.malformed_lists[service] = left - 1
            return True
        return False

    def confd_check_ready(self) -> None:
        """confd down (e.g. restarting): nginx answers 502 Bad Gateway."""
        if self.clock() < self.confd_unavailable_until:
            self.confd_refused += 1
            raise ApiError(502, "bad-gateway", "Bad Gateway")

    def chatd_check_ready(self) -> None:
        """chatd answers 503 until its start-up sync is done (reference wazo-api.md §5.1)."""
        if self.clock() < self.chatd_unavailable_until:
            raise ApiError(503, "not-initialized", "Presences are not initialized")

    def resolve_user(self, ref: str) -> UserConfig:
        """A user by UUID, username or extension (control API convenience)."""
        for user in self.config.users:
            if ref in (user.uuid, user.username, user.exten):
                return user
        raise ApiError(404, "unknown-user", f"No such user: {ref}", resource="users")

    def session_changed(self, user_uuid: str | None) -> None:
        """chatd's ``connected`` follows wazo-auth sessions: republish the user's presence."""
        if user_uuid is not None and user_uuid in self.config.users_by_uuid:
            self.publish(self.state.presence_events(user_uuid))


CORE_KEY = web.AppKey("wazo_sim_core", SimCore)


def core_of(request: web.Request) -> SimCore:
    return request.app[CORE_KEY]
