"""What a test or the demo can make happen in the simulated PBX (the phones' side of the world).

:class:`SimControl` is the Python API; :mod:`wazo_sim.http_control` exposes the same operations
as JSON under ``/_sim/``. Every operation publishes the events the real daemons would.
"""

from __future__ import annotations

import uuid
from typing import Any

from wazo_sim import calls as legs
from wazo_sim.config import ConfigError, parse_user_entry
from wazo_sim.core import SimCore
from wazo_sim.errors import ApiError
from wazo_sim.state import PbxState
from wazo_sim.websocketd import CLOSE_BUS_LOST


class SimControl:
    def __init__(self, core: SimCore) -> None:
        self._core = core

    @property
    def _state(self) -> PbxState:
        return self._core.state

    def resolve(self, user: str) -> str:
        """The UUID of a user given by UUID, username or extension."""
        return self._core.resolve_user(user).uuid

    # ---------------------------------------------------------------- calls

    def ring(
        self, user: str, from_number: str | None = None, from_name: str = "", from_user: str | None = None
    ) -> dict[str, Any]:
        """An incoming call to ``user``: from an outside number, or dialled by ``from_user`` on their phone.

        Returns the callee's leg (``call_id``) and, for an internal call, the caller's (``caller_call_id``).
        """
        callee = self._core.resolve_user(user)
        if from_user is not None:
            caller = self._core.resolve_user(from_user)
            caller_leg, events = self._state.dial_from_phone(caller.uuid, callee.exten)
            self._core.publish(events)
            callee_call_id = caller_leg.peer_call_id
            return {"call_id": callee_call_id, "caller_call_id": caller_leg.call_id}
        if not from_number:
            raise ApiError(400, "invalid-data", "from_number or from_user is required")
        leg, events = self._state.ring_from_external(callee.uuid, from_number, from_name)
        self._core.publish(events)
        return {"call_id": leg.call_id if leg else None, "caller_call_id": None}

    def _ringing_leg_of(self, user: str) -> str:
        owner = self._core.resolve_user(user)
        for leg in self._state.calls_of(owner.uuid):
            if leg.status == legs.RINGING:
                return str(leg.call_id)
        raise ApiError(404, "no-such-call", f"No ringing call for {user}")

    def answer(self, call_id: str | None = None, user: str | None = None) -> None:
        """The phone picks up: by call id, or the user's ringing call."""
        target = call_id or self._ringing_leg_of(user or "")
        self._core.publish(self._state.answer(target))

    def hold(self, call_id: str) -> None:
        self._core.publish(self._state.hold(call_id, True))

    def resume(self, call_id: str) -> None:
        self._core.publish(self._state.hold(call_id, False))

    def hangup(
        self, call_id: str | None = None, user: str | None = None, reason_code: int = legs.NORMAL_CLEARING
    ) -> None:
        """Hang up one call, or every call of a user."""
        if call_id is not None:
            self._core.publish(self._state.hangup(call_id, reason_code))
            return
        owner = self._core.resolve_user(user or "")
        for leg in list(self._state.calls_of(owner.uuid)):
            if leg.call_id in self._state.calls:
                self._core.publish(self._state.hangup(leg.call_id, reason_code))

    def no_answer(
        self, call_id: str | None = None, user: str | None = None, message_seconds: int | None = None
    ) -> None:
        """Nobody answers the ringing call (by id, or the user's): it ends, and the caller leaves
        a ``message_seconds`` voicemail if given and the user has a box."""
        target = call_id or self._ringing_leg_of(user or "")
        self._core.publish(self._state.no_answer(target, message_seconds))

    # ---------------------------------------------------------------- user settings and devices

    def leave_voicemail(
        self, user: str, from_number: str | None, from_name: str | None = None, duration: int = 30
    ) -> dict[str, Any]:
        owner = self._core.resolve_user(user)
        message, events = self._state.leave_voicemail(owner.uuid, from_number, from_name, duration)
        self._core.publish(events)
        return dict(message)

    def set_dnd(self, user: str, enabled: bool) -> None:
        """DND toggled on the phone (feature code *25): goes through confd like the real one."""
        owner = self._core.resolve_user(user)
        self._core.publish(self._state.set_service(owner.uuid, "dnd", enabled))

    def set_forward(
        self, user: str, enabled: bool, destination: str | None, name: str = "unconditional"
    ) -> None:
        """A forward set on the phone (feature code *21 and the like): through confd, as on Wazo."""
        owner = self._core.resolve_user(user)
        self._core.publish(self._state.set_forward(owner.uuid, name, enabled, destination))

    def set_registered(
        self, user: str | None = None, registered: bool = True, line_id: int | None = None
    ) -> None:
        """A phone registers or unregisters: one line, or every line of the user."""
        if line_id is not None:
            self._core.publish(self._state.set_registered(line_id, registered))
            return
        owner = self._core.resolve_user(user or "")
        for line in owner.lines:
            self._core.publish(self._state.set_registered(line.id, registered))

    # ---------------------------------------------------------------- users (confd life-cycle)

    def create_user(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A new hire: ``entry`` as in the users file (``id``, ``username``, ``password``, ``email``,
        ``exten``...). Publishes user_created and the line associations, as confd does."""
        tenants = [u.tenant_uuid for u in self._core.config.users] + [
            a.tenant_uuid for a in self._core.config.service_accounts
        ]
        try:
            user = parse_user_entry(entry, tenants[0] if tenants else str(uuid.uuid4()))
        except ConfigError as error:
            raise ApiError(400, "invalid-data", str(error)) from None
        events = self._state.add_user(user)
        self._core.users_changed()
        self._core.publish(events)
        return {"uuid": user.uuid, "id": user.id}

    def edit_user(self, user: str, **changes: Any) -> None:
        """Change a user's ``email``, ``firstname``, ``lastname`` or ``username`` (user_edited)."""
        allowed = {"email", "firstname", "lastname", "username", "mobile_phone_number"}
        unknown = set(changes) - allowed
        if unknown or not all(isinstance(v, str) for v in changes.values()):
            raise ApiError(400, "invalid-data", f"editable fields are {sorted(allowed)} (strings)")
        events = self._state.edit_user(self.resolve(user), **changes)
        self._core.users_changed()
        self._core.publish(events)

    def delete_user(self, user: str) -> None:
        """The user leaves: their calls end, lines are dissociated, user_deleted is published."""
        events = self._state.delete_user(self.resolve(user))
        self._core.users_changed()
        self._core.publish(events)

    # ---------------------------------------------------------------- faults

    def lose_events(self, name: str, count: int = 1) -> None:
        """The next ``count`` bus events called ``name`` are never published (a lost call_ended)."""
        self._core.events_to_lose[name] = self._core.events_to_lose.get(name, 0) + count

    def malformed_list(self, service: str, count: int = 1) -> None:
        """The next ``count`` list bodies of ``service`` (``calld`` calls, ``chatd`` presences)
        carry one extra item of the wrong shape."""
        if service not in ("calld", "chatd"):
            raise ApiError(400, "invalid-data", "service must be calld or chatd")
        self._core.malformed_lists[service] = self._core.malformed_lists.get(service, 0) + count

    def confd_unavailable(self, seconds: float) -> None:
        """confd is down for the next ``seconds``: its requests get 502 from nginx."""
        self._core.confd_unavailable_until = self._core.clock() + seconds

    async def drop_websockets(self) -> int:
        """websocketd lost RabbitMQ: every connection closes with 1011."""
        sessions = list(self._core.websockets)
        for session in sessions:
            await session.close(CLOSE_BUS_LOST, "bus connection lost")
        return len(sessions)

    def chatd_unavailable(self, seconds: float) -> None:
        """chatd answers 503 ``not-initialized`` for the next ``seconds``."""
        self._core.chatd_unavailable_until = self._core.clock() + seconds

    def expire_tokens(self, recheck_now: bool = False) -> None:
        """Every token expires now; websockets notice at their next check (or now if asked)."""
        self._core.tokens.expire_all()
        if recheck_now:
            for session in list(self._core.websockets):
                session.recheck_auth_now()

    async def inject_frame(self, frame: str) -> int:
        """Send a raw (possibly malformed) text frame to every open websocket."""
        sessions = list(self._core.websockets)
        for session in sessions:
            await session.send_raw(frame)
        return len(sessions)

    def state(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self._state.snapshot()
        snapshot["websockets"] = len(self._core.websockets)
        return snapshot
