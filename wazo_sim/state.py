"""The simulated PBX's live state and its transitions.

Every transition mutates the state and returns the bus events the real daemons would publish
(calld call events, confd service/forward events, chatd presence updates, voicemail events), in
order. No I/O here: the HTTP layer publishes what a transition returns.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from presence.model import LineState, aggregate_line_states
from wazo_sim import calls as legs
from wazo_sim.bus import BusEvent
from wazo_sim.calls import CallLeg, Destination
from wazo_sim.config import LineConfig, SimConfig, UserConfig
from wazo_sim.errors import ApiError, no_such_call
from wazo_sim.recording import voicemail_wav

PRESENCE_STATES = ("available", "away", "unavailable", "invisible")
FORWARD_NAMES = ("busy", "noanswer", "unconditional")
SERVICE_NAMES = ("dnd", "incallfilter")

# Per-line channel priority of chatd (reference wazo-api.md §6).
_CHANNEL_PRIORITY = (LineState.RINGING, LineState.PROGRESSING, LineState.HOLDING, LineState.TALKING)


@dataclass(slots=True)
class Forward:
    enabled: bool = False
    destination: str | None = None


@dataclass(slots=True)
class PresenceRecord:
    """What a user set in chatd (new users start unavailable, §5.1)."""

    state: str = "unavailable"
    status: str | None = None
    last_activity: datetime | None = None


# A mailbox's folders as wazo-calld numbers them (its voicemail storage): a new message lands in
# "inbox" (type new); reading it means moving it to "old" (type old).
VOICEMAIL_FOLDERS: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "inbox", "type": "new"},
    {"id": 2, "name": "old", "type": "old"},
    {"id": 3, "name": "urgent", "type": "urgent"},
    {"id": 4, "name": "work", "type": "other"},
    {"id": 5, "name": "family", "type": "other"},
    {"id": 6, "name": "friends", "type": "other"},
)
FOLDERS_BY_ID = {folder["id"]: folder for folder in VOICEMAIL_FOLDERS}


@dataclass(frozen=True, slots=True)
class VoicemailMessage:
    id: str
    caller_id_name: str | None
    caller_id_num: str | None
    duration: int
    timestamp: int
    recording: bytes = b""
    folder_id: int = 1

    def to_dict(self, voicemail_id: int, voicemail_name: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "caller_id_name": self.caller_id_name,
            "caller_id_num": self.caller_id_num,
            "duration": self.duration,
            "timestamp": self.timestamp,
            "empty": self.duration == 0,
            "transcription": None,
            "folder": dict(FOLDERS_BY_ID[self.folder_id]),
            "voicemail": {"id": voicemail_id, "name": voicemail_name, "accesstype": "personal"},
        }


class PbxState:
    """Users' lines, calls, services, forwards, chat presence and mailboxes."""

    def __init__(self, config: SimConfig, has_session: Callable[[str], bool] = lambda _uuid: False) -> None:
        self.config = config
        self._has_session = has_session
        self.registered: dict[int, bool] = {
            line.id: line.registered for u in config.users for line in u.lines
        }
        self.services: dict[str, dict[str, bool]] = {
            u.uuid: dict.fromkeys(SERVICE_NAMES, False) for u in config.users
        }
        self.forwards: dict[str, dict[str, Forward]] = {
            u.uuid: {name: Forward() for name in FORWARD_NAMES} for u in config.users
        }
        self.presences: dict[str, PresenceRecord] = {u.uuid: PresenceRecord() for u in config.users}
        self.calls: dict[str, CallLeg] = {}
        self.voicemails: dict[str, list[VoicemailMessage]] = {u.uuid: [] for u in config.users}
        self._message_sequence = itertools.count(1)
        self.created_at: dict[str, datetime] = {}
        # Calls the PBX sent elsewhere before ringing the user (for tests: GET /_sim/state).
        self.diverted: dict[str, list[dict[str, str]]] = {u.uuid: [] for u in config.users}

    # ---------------------------------------------------------------- users (confd life-cycle)

    def _replace_users(self, users: tuple[UserConfig, ...]) -> None:
        self.config = replace(self.config, users=users)

    def _line_events(self, name: str, user: UserConfig, line: LineConfig) -> list[BusEvent]:
        """confd's user_line_(dis)associated (wazo-bus resources/user_line/event.py, a UserEvent)."""
        line_dict = {"id": line.id, "name": line.name, "endpoint_sip": {"uuid": line.endpoint_uuid}}
        user_dict = {"id": user.id, "uuid": user.uuid, "tenant_uuid": user.tenant_uuid}
        verb = "updated" if name == "user_line_associated" else "deleted"
        return [
            BusEvent(
                name=name,
                data={
                    "line": line_dict,
                    "main_line": user.main_line is not None and user.main_line.id == line.id,
                    "main_user": True,
                    "user": user_dict,
                },
                tenant_uuid=user.tenant_uuid,
                required_acl=f"events.config.users.{user.uuid}.lines.{line.id}.{verb}",
                user_uuids=(user.uuid,),
            )
        ]

    def _line_extension_event(self, name: str, user: UserConfig, line: LineConfig) -> BusEvent:
        """confd's line_extension_(dis)associated (wazo-bus resources/line_extension, a TenantEvent)."""
        verb = "updated" if name == "line_extension_associated" else "deleted"
        return BusEvent(
            name=name,
            data={"line_id": line.id, "extension_id": line.extension_id},
            tenant_uuid=user.tenant_uuid,
            required_acl=f"events.config.line_extension_associated.{verb}",
        )

    def _user_event(self, name: str, user: UserConfig) -> BusEvent:
        """confd's user_created / user_edited / user_deleted (wazo-bus resources/user/event.py).

        A TenantEvent whose routing key is ``config.user.<verb>``; confd passes its integer
        ``subscription_type`` and the row's ``created_at`` (``str(datetime)``).
        """
        verb = name.removeprefix("user_")
        return BusEvent(
            name=name,
            data={
                "id": user.id,
                "uuid": user.uuid,
                "subscription_type": 0,
                "created_at": str(self.created_at.setdefault(user.uuid, datetime.now())),
                "tenant_uuid": user.tenant_uuid,
            },
            tenant_uuid=user.tenant_uuid,
            required_acl=f"events.config.user.{verb}",
        )

    def add_user(self, user: UserConfig) -> list[BusEvent]:
        """A user created in confd with their lines: user_created, then per line the extension
        and user associations, each followed by chatd's presence update (chatd listens to them)."""
        if user.uuid in self.config.users_by_uuid or any(u.id == user.id for u in self.config.users):
            raise ApiError(400, "duplicate-user", "User already exists", {"uuid": user.uuid})
        taken = {line.id for u in self.config.users for line in u.lines}
        if any(line.id in taken for line in user.lines):
            raise ApiError(400, "duplicate-line", "Line already exists", {"uuid": user.uuid})
        self._replace_users((*self.config.users, user))
        self.services[user.uuid] = dict.fromkeys(SERVICE_NAMES, False)
        self.forwards[user.uuid] = {name: Forward() for name in FORWARD_NAMES}
        self.presences[user.uuid] = PresenceRecord()
        self.voicemails[user.uuid] = []
        self.diverted[user.uuid] = []
        self.created_at[user.uuid] = datetime.now()
        events = [self._user_event("user_created", user)]
        for line in user.lines:
            self.registered[line.id] = line.registered
            events.append(self._line_extension_event("line_extension_associated", user, line))
            events += self._line_events("user_line_associated", user, line)
            events += self.presence_events(user.uuid)
        return events

    def edit_user(self, user_uuid: str, **changes: Any) -> list[BusEvent]:
        """``PUT /users/{uuid}``: email, names, username... change; confd publishes user_edited."""
        current = self.user(user_uuid)
        edited = replace(current, **changes)
        self._replace_users(tuple(edited if u.uuid == user_uuid else u for u in self.config.users))
        return [self._user_event("user_edited", edited)]

    def delete_user(self, user_uuid: str) -> list[BusEvent]:
        """``DELETE /users/{uuid}``: their calls end, lines are dissociated, then user_deleted."""
        user = self.user(user_uuid)
        events: list[BusEvent] = []
        for leg in self.calls_of(user.uuid):
            if leg.call_id in self.calls:
                events += self.hangup(leg.call_id)
        for line in user.lines:
            events += self._line_events("user_line_dissociated", user, line)
            events.append(self._line_extension_event("line_extension_dissociated", user, line))
            self.registered.pop(line.id, None)
        events.append(self._user_event("user_deleted", user))
        self._replace_users(tuple(u for u in self.config.users if u.uuid != user_uuid))
        tables = (
            self.services,
            self.forwards,
            self.presences,
            self.voicemails,
            self.created_at,
            self.diverted,
        )
        for table in tables:
            table.pop(user.uuid, None)
        self.diverted.pop(user.uuid, None)
        return events

    # ---------------------------------------------------------------- lookups

    def user(self, user_uuid: str) -> UserConfig:
        user = self.config.users_by_uuid.get(user_uuid)
        if user is None:
            raise ApiError(404, "unknown-user", "No such user", {"uuid": user_uuid}, resource="users")
        return user

    def leg(self, call_id: str) -> CallLeg:
        leg = self.calls.get(call_id)
        if leg is None:
            raise no_such_call(call_id)
        return leg

    def calls_of(self, user_uuid: str) -> list[CallLeg]:
        return [leg for leg in self.calls.values() if leg.user_uuid == user_uuid]

    # ---------------------------------------------------------------- chatd view

    def line_state(self, line: LineConfig) -> LineState:
        channel_states = set()
        for leg in self.calls.values():
            if leg.line_id != line.id:
                continue
            if leg.status == legs.RINGING:
                channel_states.add(LineState.RINGING)
            elif leg.status == legs.RING:
                channel_states.add(LineState.PROGRESSING)
            elif leg.on_hold:
                channel_states.add(LineState.HOLDING)
            elif leg.status == legs.UP:
                channel_states.add(LineState.TALKING)
        for candidate in _CHANNEL_PRIORITY:
            if candidate in channel_states:
                return candidate
        return LineState.AVAILABLE if self.registered.get(line.id) else LineState.UNAVAILABLE

    def presence(self, user_uuid: str) -> dict[str, Any]:
        """chatd's ``UserPresenceSchema`` dump, in its key order (§5.2)."""
        user = self.user(user_uuid)
        record = self.presences[user_uuid]
        line_states = [(line.id, self.line_state(line)) for line in user.lines]
        return {
            "uuid": user.uuid,
            "tenant_uuid": user.tenant_uuid,
            "state": record.state,
            "status": record.status,
            "last_activity": record.last_activity.isoformat() if record.last_activity else None,
            "mobile": False,
            "do_not_disturb": self.services[user_uuid]["dnd"],
            "connected": self._has_session(user_uuid),
            "lines": [{"id": line_id, "state": str(state)} for line_id, state in line_states],
            "line_state": str(aggregate_line_states([state for _, state in line_states])),
        }

    def presence_events(self, *user_uuids: str) -> list[BusEvent]:
        """chatd publishes the full presence after each change it sees (§5.4)."""
        events = []
        for user_uuid in dict.fromkeys(user_uuids):
            user = self.user(user_uuid)
            events.append(
                BusEvent(
                    name="chatd_presence_updated",
                    data=self.presence(user_uuid),
                    tenant_uuid=user.tenant_uuid,
                    required_acl=f"events.chatd.users.{user_uuid}.presences.updated",
                )
            )
        return events

    def set_presence(
        self, user_uuid: str, state: str | None, status: str | None, keep_status: bool
    ) -> list[BusEvent]:
        record = self.presences[self.user(user_uuid).uuid]
        if state is not None:
            record.state = state
        if not keep_status:
            record.status = status
        record.last_activity = datetime.now(UTC)
        return self.presence_events(user_uuid)

    # ---------------------------------------------------------------- confd services / forwards

    def set_service(self, user_uuid: str, service: str, enabled: bool) -> list[BusEvent]:
        user = self.user(user_uuid)
        self.services[user.uuid][service] = enabled
        events = [
            BusEvent(
                name=f"users_services_{service}_updated",
                data={
                    "user_id": user.id,
                    "user_uuid": user.uuid,
                    "tenant_uuid": user.tenant_uuid,
                    "enabled": enabled,
                },
                tenant_uuid=user.tenant_uuid,
                required_acl=f"events.config.users.{user.uuid}.services.{service}.updated",
                user_uuids=(user.uuid,),
            )
        ]
        if service == "dnd":
            events += self.presence_events(user.uuid)
        return events

    def set_forward(
        self, user_uuid: str, name: str, enabled: bool, destination: str | None
    ) -> list[BusEvent]:
        user = self.user(user_uuid)
        self.forwards[user.uuid][name] = Forward(enabled, destination)
        return [
            BusEvent(
                name=f"users_forwards_{name}_updated",
                data={
                    "user_id": user.id,
                    "user_uuid": user.uuid,
                    "tenant_uuid": user.tenant_uuid,
                    "enabled": enabled,
                    "destination": destination,
                },
                tenant_uuid=user.tenant_uuid,
                required_acl=f"events.config.users.{user.uuid}.forwards.{name}.updated",
                user_uuids=(user.uuid,),
            )
        ]

    # ---------------------------------------------------------------- lines

    def set_registered(self, line_id: int, registered: bool) -> list[BusEvent]:
        owner = self.config.line_owner(line_id)
        if owner is None:
            raise ApiError(404, "not-found", "Line was not found", {"line_id": line_id}, resource="lines")
        user, line = owner
        self.registered[line_id] = registered
        line_event = BusEvent(
            name="line_status_updated",
            data={
                "id": line.id,
                "technology": "sip",
                "name": line.name,
                "registered": registered,
                "current_call_count": sum(1 for leg in self.calls.values() if leg.line_id == line_id),
            },
            tenant_uuid=user.tenant_uuid,
            required_acl=f"events.lines.{line.id}.status.updated",
        )
        return [line_event, *self.presence_events(user.uuid)]

    # ---------------------------------------------------------------- calls

    def _call_event(self, name: str, leg: CallLeg, reason_code: int | None = None) -> BusEvent:
        data = leg.to_dict()
        if reason_code is not None:
            data["reason_code"] = reason_code
        return BusEvent(
            name=name,
            data=data,
            tenant_uuid=leg.tenant_uuid,
            required_acl=f"events.calls.{leg.user_uuid}",
            user_uuids=(leg.user_uuid,),
        )

    def _hold_event(self, name: str, leg: CallLeg) -> BusEvent:
        return BusEvent(
            name=name,
            data={"call_id": leg.call_id, "user_uuid": leg.user_uuid},
            tenant_uuid=leg.tenant_uuid,
            required_acl=f"events.calls.{leg.user_uuid}",
            user_uuids=(leg.user_uuid,),
        )

    def _pick_line(self, user: UserConfig, line_id: int | None) -> LineConfig:
        if line_id is not None:
            line = next((candidate for candidate in user.lines if candidate.id == line_id), None)
            if line is None:
                raise ApiError(400, "invalid-user-line", "User has no such line", {"line_id": line_id})
            return line
        if user.main_line is None:
            raise ApiError(400, "user-missing-main-line", "User has no main line", {"user_uuid": user.uuid})
        return user.main_line

    def _resolve_extension(self, exten: str, context: str) -> tuple[UserConfig, LineConfig]:
        target = self.config.user_by_extension(exten, context)
        if target is None:
            raise ApiError(
                400, "invalid-extension", "Invalid extension", {"exten": exten, "context": context}
            )
        return target

    def _new_leg(
        self,
        user: UserConfig,
        line: LineConfig,
        status: str,
        is_caller: bool,
        direction: str,
        caller_id: tuple[str, str],
        conversation_id: str | None = None,
    ) -> CallLeg:
        call_id = legs.new_channel_id()
        leg = CallLeg(
            call_id=call_id,
            conversation_id=conversation_id or call_id,
            user_uuid=user.uuid,
            tenant_uuid=user.tenant_uuid,
            line_id=line.id,
            line_name=line.name,
            status=status,
            is_caller=is_caller,
            direction=direction,
            caller_id_name=caller_id[0],
            caller_id_number=caller_id[1],
        )
        self.calls[call_id] = leg
        return leg

    def originate(
        self,
        user_uuid: str,
        extension: str,
        context: str | None = None,
        line_id: int | None = None,
        auto_answer: bool = False,
        all_lines: bool = False,
        from_mobile: bool = False,
    ) -> tuple[CallLeg, list[BusEvent]]:
        """calld's click-to-call: ring the caller's own phone first (§7.1).

        Which phone rings first, in calld's order of precedence: the user's mobile
        (``from_mobile``, dialled through the main line's context), the given line, every line of
        the user (``all_lines``, ignored with a line), else the main line. Every ringing line gets
        its own leg; the first one answered dials the destination and the others stop ringing.
        """
        user = self.config.users_by_uuid.get(user_uuid)
        if user is None:
            raise ApiError(400, "invalid-user", "Invalid user", {"user_uuid": user_uuid})
        if from_mobile:
            ringing = [self._pick_line(user, None)]
        elif line_id is None and all_lines:
            if not user.lines:
                raise ApiError(
                    400, "user-missing-main-line", "User has no main line", {"user_uuid": user.uuid}
                )
            ringing = list(user.lines)
        else:
            ringing = [self._pick_line(user, line_id)]
        line = ringing[0]
        extension = extension.strip()
        outside = self.config.user_by_extension(extension, context or line.context) is None and (
            self.config.outcall_matches(extension, context or line.context)
        )
        if not outside:
            target_user, target_line = self._resolve_extension(extension, context or line.context)
        destination = (
            Destination("", 0, extension)
            if outside
            else Destination(target_user.uuid, target_line.id, extension)
        )
        if from_mobile:
            return self._originate_from_mobile(user, line, destination)
        # usersharedlines rings the registered lines; a lone line must be registered.
        ringing = [candidate for candidate in ringing if self.registered.get(candidate.id)]
        if not ringing:
            raise ApiError(
                400,
                "call-origin-unavailable",
                "Could not originate call: line is not registered",
                {"line_id": line.id},
            )
        created: list[CallLeg] = []
        for each in ringing:
            leg = self._new_leg(
                user,
                each,
                legs.RINGING,
                True,
                "internal",
                (user.fullname, line.exten),
                conversation_id=created[0].conversation_id if created else None,
            )
            leg.dialed_extension = extension
            leg.pending_destination = destination
            created.append(leg)
        events = [self._call_event("call_created", leg) for leg in created]
        events += self.presence_events(user.uuid)
        if auto_answer and len(created) == 1:  # calld: auto-answer does not work with all_lines
            events += self.answer(created[0].call_id)
        return created[0], events

    def _originate_from_mobile(
        self, user: UserConfig, main_line: LineConfig, destination: Destination
    ) -> tuple[CallLeg, list[BusEvent]]:
        """calld dials the user's mobile through their main line's context; no line rings."""
        mobile = user.mobile_phone_number.strip()
        if not mobile:
            raise ApiError(400, "call-creation", "User has no mobile phone number", {"user": user.uuid})
        context = main_line.context
        if self.config.user_by_extension(mobile, context) is None and not self.config.outcall_matches(
            mobile, context
        ):
            raise ApiError(
                400,
                "call-creation",
                "User has invalid mobile phone number",
                {"user": user.uuid, "mobile_exten": mobile, "mobile_context": context},
            )
        leg = self._new_leg(user, main_line, legs.RINGING, True, "internal", (user.fullname, main_line.exten))
        leg.line_id = 0  # a Local channel towards the trunk: none of the user's lines
        leg.mobile_number = mobile
        leg.dialed_extension = destination.exten
        leg.pending_destination = destination
        return leg, [self._call_event("call_created", leg), *self.presence_events(user.uuid)]

    def _ringing_siblings(self, leg: CallLeg) -> list[CallLeg]:
        """The other lines rung by the same all-lines origination, still waiting for an answer."""
        return [
            other
            for other in self.calls.values()
            if other.call_id != leg.call_id
            and other.conversation_id == leg.conversation_id
            and other.user_uuid == leg.user_uuid
            and other.pending_destination is not None
        ]

    def dial_from_phone(self, user_uuid: str, extension: str) -> tuple[CallLeg, list[BusEvent]]:
        """The user dials an extension on their phone: their leg waits (progressing), the target rings."""
        user = self.user(user_uuid)
        line = self._pick_line(user, None)
        target_user, target_line = self._resolve_extension(extension, line.context)
        leg = self._new_leg(user, line, legs.RING, True, "internal", (user.fullname, line.exten))
        leg.dialed_extension = extension
        events = [self._call_event("call_created", leg), *self.presence_events(user.uuid)]
        events += self._ring_destination(leg, Destination(target_user.uuid, target_line.id, extension))
        return leg, events

    def ring_from_external(
        self, user_uuid: str, number: str, name: str = "", dialed: str | None = None
    ) -> tuple[CallLeg | None, list[BusEvent]]:
        """An outside caller reaches the user's line through an incall.

        The user's DND and unconditional forward apply first (:meth:`_divert`); a user whose phone
        is not registered is not rung (no leg, no event): the PBX sends such calls to the user's
        no-answer fallback, which is outside the simulation.
        """
        user = self.user(user_uuid)
        diverted, events = self._divert(user, number, name or number)
        if diverted is not None:
            if isinstance(diverted, tuple):  # forwarded to another user of the PBX: ring them
                user, line = diverted
                if self.services[user.uuid]["dnd"] or not self.registered.get(line.id):
                    return None, events
                leg = self._new_leg(user, line, legs.RINGING, False, "inbound", (name or number, number))
                leg.peer_caller_id_name = name or number
                leg.peer_caller_id_number = number
                leg.dialed_extension = dialed or line.exten
                return leg, [*events, self._call_event("call_created", leg), *self.presence_events(user.uuid)]
            return None, events
        line = self._pick_line(user, None)
        if not self.registered.get(line.id):
            return None, []
        leg = self._new_leg(user, line, legs.RINGING, False, "inbound", (name or number, number))
        leg.peer_caller_id_name = name or number
        leg.peer_caller_id_number = number
        leg.dialed_extension = dialed or line.exten
        return leg, [self._call_event("call_created", leg), *self.presence_events(user.uuid)]

    def _divert(
        self, callee: UserConfig, caller_number: str, caller_name: str, caller_uuid: str | None = None
    ) -> tuple[tuple[UserConfig, LineConfig] | str | None, list[BusEvent]]:
        """What the PBX does with a call to ``callee`` before ringing (reference wazo-api.md §13).

        DND: the user's voicemail when they have one (a message is left: the simulated caller
        speaks at once), else the call is refused ("refused"). Unconditional forward: another
        user of the PBX (returned, to be rung) or an outside number (the destination; not
        simulated further). None: ring the user. DND is looked at before the forward, as the
        user dialplan does (UNVERIFIED order; the component never sets both together).
        """
        record = self.diverted[callee.uuid]
        if self.services[callee.uuid]["dnd"]:
            if callee.voicemail_id is None:
                record.append({"from": caller_number, "to": "refused"})
                return "refused", []
            _message, events = self.leave_voicemail(callee.uuid, caller_number, caller_name, 0)
            record.append({"from": caller_number, "to": "voicemail"})
            return "voicemail", events
        forward = self.forwards[callee.uuid]["unconditional"]
        if forward.enabled and forward.destination:
            record.append({"from": caller_number, "to": forward.destination})
            context = callee.lines[0].context if callee.lines else None
            internal = self.config.user_by_extension(forward.destination, context)
            if internal is not None and internal[0].uuid not in (callee.uuid, caller_uuid):
                return internal, []
            return forward.destination, []
        return None, []

    def _ring_destination(self, caller_leg: CallLeg, destination: Destination) -> list[BusEvent]:
        """The dialplan reaches the destination user: ring their line, or end busy/absent."""
        if not destination.user_uuid:  # an outcall: the trunk rings the number, nobody here answers
            caller_leg.direction = "outbound"
            caller_leg.peer_caller_id_number = destination.exten
            return []
        callee = self.user(destination.user_uuid)
        callee_line = next(line for line in callee.lines if line.id == destination.line_id)
        caller = self.user(caller_leg.user_uuid)
        diverted, divert_events = self._divert(
            callee, caller_leg.caller_id_number, caller.fullname, caller_uuid=caller.uuid
        )
        if diverted == "refused":
            return self._hangup_legs([caller_leg], legs.USER_BUSY)
        if isinstance(diverted, tuple):
            callee, callee_line = diverted
            if self.services[callee.uuid]["dnd"]:  # the forward's target is in DND itself
                return self._hangup_legs([caller_leg], legs.USER_BUSY)
        elif diverted is not None:  # voicemail took the message, or the call left the PBX
            return [*divert_events, *self._hangup_legs([caller_leg], legs.NORMAL_CLEARING)]
        if not self.registered.get(callee_line.id):
            return self._hangup_legs([caller_leg], legs.SUBSCRIBER_ABSENT)
        callee_leg = self._new_leg(
            callee,
            callee_line,
            legs.RINGING,
            False,
            "internal",
            (caller.fullname, caller_leg.caller_id_number),
            conversation_id=caller_leg.conversation_id,
        )
        callee_leg.dialed_extension = destination.exten
        callee_leg.peer_caller_id_name = caller.fullname
        callee_leg.peer_caller_id_number = caller_leg.caller_id_number
        callee_leg.peer_call_id, callee_leg.peer_user_uuid = caller_leg.call_id, caller_leg.user_uuid
        caller_leg.peer_call_id, caller_leg.peer_user_uuid = callee_leg.call_id, callee.uuid
        caller_leg.peer_caller_id_name = callee.fullname
        caller_leg.peer_caller_id_number = callee_line.exten
        return [self._call_event("call_created", callee_leg), *self.presence_events(callee.uuid)]

    def answer(self, call_id: str) -> list[BusEvent]:
        leg = self.leg(call_id)
        if leg.status != legs.RINGING:
            return []  # answering a call that does not ring changes nothing
        if leg.pending_destination is not None:
            # The caller picked up the originated call: now the destination is dialled, and the
            # user's other lines rung by the same origination stop ringing (answered elsewhere).
            siblings = self._ringing_siblings(leg)
            destination, leg.pending_destination = leg.pending_destination, None
            leg.status = legs.RING
            dialling = self._hangup_legs(siblings, legs.ANSWERED_ELSEWHERE) if siblings else []
            dialling += [self._call_event("call_updated", leg), *self.presence_events(leg.user_uuid)]
            return dialling + self._ring_destination(leg, destination)
        now = datetime.now()
        answered = [leg]
        if leg.peer_call_id is not None and leg.peer_call_id in self.calls:
            answered.append(self.calls[leg.peer_call_id])
        bridge_id = str(uuid.uuid4()) if len(answered) == 2 else None
        events: list[BusEvent] = []
        for each in answered:
            each.status = legs.UP
            each.answer_time = now
            each.bridge_id = bridge_id
            events.append(self._call_event("call_answered", each))
        for each in answered:
            events.append(self._call_event("call_updated", each))
        return events + self.presence_events(*(each.user_uuid for each in answered))

    def hold(self, call_id: str, on_hold: bool) -> list[BusEvent]:
        leg = self.leg(call_id)
        if leg.status != legs.UP or leg.on_hold == on_hold:
            return []
        leg.on_hold = on_hold
        event = self._hold_event("call_held" if on_hold else "call_resumed", leg)
        return [event, *self.presence_events(leg.user_uuid)]

    def hangup(self, call_id: str, reason_code: int = legs.NORMAL_CLEARING) -> list[BusEvent]:
        leg = self.leg(call_id)
        both = [leg, *(self._ringing_siblings(leg) if leg.pending_destination is not None else ())]
        if leg.peer_call_id is not None and leg.peer_call_id in self.calls:
            both.append(self.calls[leg.peer_call_id])
        return self._hangup_legs(both, reason_code)

    def no_answer(self, call_id: str, message_seconds: int | None = None) -> list[BusEvent]:
        """Nobody picks up the ringing leg ``call_id``: the ring time runs out.

        The ringing leg ends (``call_ended``, hangup cause 19 no answer); the dialplan then sends
        the caller to the user's no-answer fallback. Simulated: the user's voicemail when they
        have a box and the caller speaks (``message_seconds``): an internal caller's leg is
        answered by the voicemail application, and ``user_voicemail_message_created`` comes once
        the caller hung up, after the ringing leg's ``call_ended``, as on Wazo (the message is
        known only when complete). Otherwise the caller's leg ends too.
        """
        leg = self.leg(call_id)
        if leg.status != legs.RINGING or leg.is_caller:
            raise ApiError(400, "not-ringing", "Only an incoming ringing call can go unanswered")
        callee = self.user(leg.user_uuid)
        caller_leg = self.calls.get(leg.peer_call_id) if leg.peer_call_id is not None else None
        events = self._hangup_legs([leg], legs.NO_ANSWER)
        if message_seconds is not None and callee.voicemail_id is not None:
            if caller_leg is not None:
                caller_leg.peer_call_id = caller_leg.peer_user_uuid = None
                caller_leg.status = legs.UP
                caller_leg.answer_time = datetime.now()
                events += [
                    self._call_event("call_answered", caller_leg),
                    self._call_event("call_updated", caller_leg),
                    *self.presence_events(caller_leg.user_uuid),
                ]
            _message, left = self.leave_voicemail(
                callee.uuid,
                leg.peer_caller_id_number or None,
                leg.peer_caller_id_name or None,
                message_seconds,
            )
            events += left
        if caller_leg is not None:
            events += self._hangup_legs([caller_leg], legs.NORMAL_CLEARING)
        return events

    def _hangup_legs(self, ended: list[CallLeg], reason_code: int) -> list[BusEvent]:
        now = datetime.now()
        events = []
        for leg in ended:
            self.calls.pop(leg.call_id, None)
            leg.hangup_time = now
            events.append(self._call_event("call_ended", leg, reason_code))
        return events + self.presence_events(*(leg.user_uuid for leg in ended))

    # ---------------------------------------------------------------- voicemail

    def leave_voicemail(
        self, user_uuid: str, caller_id_num: str | None, caller_id_name: str | None, duration: int
    ) -> tuple[dict[str, Any], list[BusEvent]]:
        user = self.user(user_uuid)
        if user.voicemail_id is None:
            raise ApiError(400, "no-voicemail", "User has no voicemail", {"user_uuid": user_uuid})
        now = int(time.time())
        sequence = next(self._message_sequence)
        message = VoicemailMessage(
            id=f"{now}-{sequence:08d}",
            caller_id_name=caller_id_name,
            caller_id_num=caller_id_num,
            duration=duration,
            timestamp=now,
            # Each message its own pitch: two recordings never have the same bytes.
            recording=voicemail_wav(duration, 300.0 + 20.0 * (sequence % 40)),
        )
        self.voicemails[user.uuid].append(message)
        return message.to_dict(user.voicemail_id, user.fullname), [
            self._voicemail_event("created", user, message)
        ]

    def _voicemail_event(self, verb: str, user: UserConfig, message: VoicemailMessage) -> BusEvent:
        """calld's user_voicemail_message_created|updated|deleted (wazo-bus voicemail/event.py)."""
        assert user.voicemail_id is not None
        return BusEvent(
            name=f"user_voicemail_message_{verb}",
            data={
                "user_uuid": user.uuid,
                "voicemail_id": user.voicemail_id,
                "message_id": message.id,
                "message": message.to_dict(user.voicemail_id, user.fullname),
            },
            tenant_uuid=user.tenant_uuid,
            required_acl=f"events.users.{user.uuid}.voicemails",
            user_uuids=(user.uuid,),
        )

    def voicemail_messages(self, user_uuid: str) -> list[dict[str, Any]]:
        user = self.user(user_uuid)
        if user.voicemail_id is None:
            return []
        return [m.to_dict(user.voicemail_id, user.fullname) for m in self.voicemails[user.uuid]]

    def mailbox_owner(self, voicemail_id: int, tenant_uuid: str) -> UserConfig:
        """The user whose personal mailbox this is, in the tenant (else calld's 404)."""
        for user in self.config.users:
            if user.voicemail_id == voicemail_id and user.tenant_uuid == tenant_uuid:
                return user
        raise ApiError(404, "no-such-voicemail", "No such voicemail", {"voicemail_id": voicemail_id})

    def voicemail_message(self, user_uuid: str, message_id: str) -> VoicemailMessage:
        for message in self.voicemails.get(user_uuid, []):
            if message.id == message_id:
                return message
        raise ApiError(
            404, "no-such-voicemail-message", "No such voicemail message", {"message_id": message_id}
        )

    def move_voicemail_message(self, user_uuid: str, message_id: str, folder_id: int) -> list[BusEvent]:
        """PUT {"folder_id"}: calld moves the file to that folder (read = moved to "old")."""
        user = self.user(user_uuid)
        message = self.voicemail_message(user_uuid, message_id)
        if folder_id not in FOLDERS_BY_ID:
            raise ApiError(
                400, "no-such-voicemail-folder", "No such voicemail folder", {"folder_id": folder_id}
            )
        if folder_id == message.folder_id:
            return []
        moved = replace(message, folder_id=folder_id)
        box = self.voicemails[user_uuid]
        box[box.index(message)] = moved
        return [self._voicemail_event("updated", user, moved)]

    def delete_voicemail_message(self, user_uuid: str, message_id: str) -> list[BusEvent]:
        user = self.user(user_uuid)
        message = self.voicemail_message(user_uuid, message_id)
        self.voicemails[user_uuid].remove(message)
        return [self._voicemail_event("deleted", user, message)]

    # ---------------------------------------------------------------- truth for tests

    def snapshot(self) -> dict[str, Any]:
        """The simulator's truth per user, for ``GET /_sim/state``."""
        users = {}
        for user in self.config.users:
            users[user.username] = {
                "uuid": user.uuid,
                "exten": user.exten,
                "line_state": self.presence(user.uuid)["line_state"],
                "lines": [
                    {
                        "id": line.id,
                        "state": str(self.line_state(line)),
                        "registered": self.registered[line.id],
                    }
                    for line in user.lines
                ],
                "dnd": self.services[user.uuid]["dnd"],
                "forwards": {
                    name: {"enabled": fwd.enabled, "destination": fwd.destination}
                    for name, fwd in self.forwards[user.uuid].items()
                },
                "presence": {
                    "state": self.presences[user.uuid].state,
                    "status": self.presences[user.uuid].status,
                },
                "calls": [leg.to_dict() for leg in self.calls_of(user.uuid)],
                # Which of the user's phones ring: line ids, and the mobile (rung by calld).
                "ringing_lines": sorted(
                    leg.line_id
                    for leg in self.calls_of(user.uuid)
                    if leg.status == legs.RINGING and not leg.mobile_number
                ),
                "mobile_ringing": any(
                    leg.mobile_number and leg.status == legs.RINGING for leg in self.calls_of(user.uuid)
                ),
                "voicemails": len(self.voicemails[user.uuid]),
                "diverted": list(self.diverted[user.uuid]),
            }
        return {"users": users}
