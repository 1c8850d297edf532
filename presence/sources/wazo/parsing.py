"""Wazo JSON (REST bodies and bus event payloads) → typed domain values. Pure, no I/O.

Every function raises :class:`WazoShapeError` naming the key at fault when the document does not
have the shape Wazo documents (reference wazo-api.md §§4-7); unknown extra keys are ignored, as
Wazo adds fields over time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from presence.model import (
    Call,
    CallEvent,
    CallEventKind,
    CallStatus,
    DndChanged,
    ForwardChanged,
    LineState,
    PhoneEvent,
    PhoneSnapshot,
    PhoneState,
    UsersChanged,
    VoicemailReceived,
    WazoPresenceState,
)
from presence.sources.wazo.errors import WazoShapeError

JsonObject = Mapping[str, Any]
_E = TypeVar("_E", LineState, WazoPresenceState)

# Bus event names the component subscribes to, and the call event kind each one means.
CALL_EVENT_KINDS: Final[Mapping[str, CallEventKind]] = {
    "call_created": CallEventKind.CREATED,
    "call_updated": CallEventKind.UPDATED,
    "call_answered": CallEventKind.ANSWERED,
    "call_held": CallEventKind.HELD,
    "call_resumed": CallEventKind.RESUMED,
    "call_ended": CallEventKind.ENDED,
}
PRESENCE_EVENT: Final = "chatd_presence_updated"
DND_EVENT: Final = "users_services_dnd_updated"
VOICEMAIL_EVENT: Final = "user_voicemail_message_created"
# confd's user life-cycle (wazo-bus resources/user, user_line, line_extension): each means the
# user directory must be read again. The first three carry the user's ``uuid``, user_line events
# ``user.uuid``, line_extension events only line and extension ids.
USER_EVENTS: Final[tuple[str, ...]] = ("user_created", "user_edited", "user_deleted")
USER_LINE_EVENTS: Final[tuple[str, ...]] = ("user_line_associated", "user_line_dissociated")
LINE_EXTENSION_EVENTS: Final[tuple[str, ...]] = ("line_extension_associated", "line_extension_dissociated")
# The call rules must notice a user changing their own forward (reference wazo-api.md §8.2).
FORWARD_EVENTS: Final[Mapping[str, str]] = {
    f"users_forwards_{kind}_updated": kind for kind in ("busy", "noanswer", "unconditional")
}
# line_status_updated is not used: it names a line, not a user, and chatd's presence already
# carries the per-line state derived from the same Asterisk device states.
SUBSCRIBED_EVENTS: Final[tuple[str, ...]] = (
    PRESENCE_EVENT,
    *CALL_EVENT_KINDS,
    DND_EVENT,
    *FORWARD_EVENTS,
    VOICEMAIL_EVENT,
    *USER_EVENTS,
    *USER_LINE_EVENTS,
    *LINE_EXTENSION_EVENTS,
)

# Called for each list item skipped as malformed: its index and the problem (the caller logs).
SkipItem = Callable[[int, WazoShapeError], None]


def _require(obj: JsonObject, key: str, what: str) -> Any:
    if key not in obj:
        raise WazoShapeError(what, key, "is missing")
    return obj[key]


def _str(obj: JsonObject, key: str, what: str) -> str:
    value = _require(obj, key, what)
    if not isinstance(value, str) or not value:
        raise WazoShapeError(what, key, f"must be a non-empty string, got {type(value).__name__}")
    return value


def _optional_str(obj: JsonObject, key: str, what: str) -> str:
    """A string that Wazo may send as null or omit: both become ''."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WazoShapeError(what, key, f"must be a string or null, got {type(value).__name__}")
    return value


def _bool(obj: JsonObject, key: str, what: str, default: bool | None = None) -> bool:
    if key not in obj and default is not None:
        return default
    value = _require(obj, key, what)
    if not isinstance(value, bool):
        raise WazoShapeError(what, key, f"must be a boolean, got {type(value).__name__}")
    return value


def _int(obj: JsonObject, key: str, what: str) -> int:
    value = _require(obj, key, what)
    # bool is an int subclass in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise WazoShapeError(what, key, f"must be an integer, got {type(value).__name__}")
    return value


def _optional_int(obj: JsonObject, key: str, what: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _int(obj, key, what)


def _object(value: Any, key: str, what: str) -> JsonObject:
    # type() first: JSON objects are dicts, and the Mapping ABC check costs more than the rest
    # of parsing a presence event.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise WazoShapeError(what, key, f"must be an object, got {type(value).__name__}")
    return value


# value -> member of the enums read from events: a dict lookup instead of Enum's call machinery,
# once or twice per presence event.
_MEMBERS: Final[Mapping[type, Mapping[str, Any]]] = {
    enum: {member.value: member for member in enum} for enum in (LineState, WazoPresenceState)
}


def _enum_value(enum: type[_E], obj: JsonObject, key: str, what: str) -> _E:
    raw = _str(obj, key, what)
    member: _E | None = _MEMBERS[enum].get(raw)
    if member is None:
        raise WazoShapeError(what, key, f"has unknown value {raw!r}")
    return member


# --- chatd -----------------------------------------------------------------------------------


def parse_presence(presence: Any) -> PhoneState:
    """A chatd Presence object (§5.2) → PhoneState without calls (chatd does not know them)."""
    what = "chatd presence"
    obj = _object(presence, "data", what)
    lines_raw = obj.get("lines") or []
    if not isinstance(lines_raw, list):
        raise WazoShapeError(what, "lines", "must be a list")
    lines = []
    for line in lines_raw:
        line_obj = _object(line, "lines[]", what)
        lines.append(
            (_int(line_obj, "id", "chatd presence line"), _enum_value(LineState, line_obj, "state", what))
        )
    return PhoneState(
        user_uuid=_str(obj, "uuid", what),
        line_state=_enum_value(LineState, obj, "line_state", what),
        do_not_disturb=_bool(obj, "do_not_disturb", what, default=False),
        wazo_state=_enum_value(WazoPresenceState, obj, "state", what),
        lines=tuple(lines),
    )


def _items(body: Any, what: str) -> list[Any]:
    obj = _object(body, "body", what)
    items = _require(obj, "items", what)
    if not isinstance(items, list):
        raise WazoShapeError(what, "items", "must be a list")
    return items


_T = TypeVar("_T")


def _each(items: list[Any], parse: Callable[[Any], _T], on_skip: SkipItem | None) -> list[_T]:
    """Parse every item; one of the wrong shape is skipped (``on_skip`` tells which and why) so
    that one bad record does not hide everyone else's state. Without ``on_skip`` it raises."""
    parsed: list[_T] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except WazoShapeError as error:
            if on_skip is None:
                raise
            on_skip(index, error)
    return parsed


def parse_presence_list(body: Any, on_skip: SkipItem | None = None) -> list[PhoneState]:
    """``GET /1.0/users/presences`` → one PhoneState per user."""
    return _each(_items(body, "chatd presence list"), parse_presence, on_skip)


# --- calld -----------------------------------------------------------------------------------

# calld ``status`` is the ARI channel state (§7.2); chatd maps it the same way (§6).
_CHANNEL_STATUS: Final[Mapping[str, CallStatus]] = {
    "Up": CallStatus.UP,
    "Busy": CallStatus.UP,
    "Ringing": CallStatus.RINGING,
    "Ring": CallStatus.PROGRESSING,
}


def call_status(channel_status: str, *, on_hold: bool, is_caller: bool) -> CallStatus:
    """The user-level status of one call leg from calld's fields."""
    if on_hold:
        return CallStatus.HELD
    mapped = _CHANNEL_STATUS.get(channel_status)
    if mapped is not None:
        return mapped
    # Down, Dialing, Pre-ring, ...: the call is being set up; who is waiting depends on the side.
    return CallStatus.PROGRESSING if is_caller else CallStatus.RINGING


def parse_call(call: Any) -> Call:
    """A calld Call object (§7.2) → Call."""
    what = "calld call"
    obj = _object(call, "data", what)
    is_caller = _bool(obj, "is_caller", what, default=False)
    peer_number = _optional_str(obj, "peer_caller_id_number", what) or _optional_str(
        obj, "dialed_extension", what
    )
    return Call(
        call_id=_str(obj, "call_id", what),
        user_uuid=_str(obj, "user_uuid", what),
        status=call_status(
            _str(obj, "status", what),
            on_hold=_bool(obj, "on_hold", what, default=False),
            is_caller=is_caller,
        ),
        peer_number=peer_number,
        peer_name=_optional_str(obj, "peer_caller_id_name", what),
        is_caller=is_caller,
        line_id=_optional_int(obj, "line_id", what),
        conversation_id=_optional_str(obj, "conversation_id", what),
    )


def parse_call_list(body: Any, on_skip: SkipItem | None = None) -> list[Call]:
    """``GET /1.0/calls`` → calls. Calls without an owning user (trunks, Local channels) are skipped."""
    items = _items(body, "calld call list")
    owned = [item for item in items if not isinstance(item, Mapping) or item.get("user_uuid")]
    return _each(owned, parse_call, on_skip)


# --- bus events ------------------------------------------------------------------------------


def _hold_event(kind: CallEventKind, data: JsonObject, name: str) -> CallEvent:
    """call_held / call_resumed carry only ``call_id`` and ``user_uuid``."""
    status = CallStatus.HELD if kind is CallEventKind.HELD else CallStatus.UP
    call = Call(call_id=_str(data, "call_id", name), user_uuid=_str(data, "user_uuid", name), status=status)
    return CallEvent(kind=kind, call=call)


def _voicemail(data: JsonObject, name: str) -> VoicemailReceived:
    message = _object(_require(data, "message", name), "message", name)
    duration = message.get("duration", 0)
    if not isinstance(duration, int) or isinstance(duration, bool):
        raise WazoShapeError(name, "message.duration", "must be an integer")
    folder = message.get("folder")
    folder_type = "new"
    if isinstance(folder, Mapping) and isinstance(folder.get("type"), str):
        folder_type = folder["type"]
    timestamp = message.get("timestamp", 0)
    message_id = _require(data, "message_id", name)
    if not isinstance(message_id, str | int) or isinstance(message_id, bool):
        raise WazoShapeError(name, "message_id", "must be a string")
    return VoicemailReceived(
        user_uuid=_str(data, "user_uuid", name),
        message_id=str(message_id),
        caller_number=_optional_str(message, "caller_id_num", name),
        caller_name=_optional_str(message, "caller_id_name", name),
        duration_seconds=duration,
        folder=folder_type,
        timestamp=timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else 0,
    )


def parse_bus_event(name: str, data: Any) -> PhoneEvent | None:
    """One bus event (``name`` and its ``data`` payload, §4) → a domain event.

    Returns ``None`` for events this component does not use.
    """
    if name == PRESENCE_EVENT:
        return PhoneSnapshot(parse_presence(data))
    kind = CALL_EVENT_KINDS.get(name)
    if kind is not None:
        if kind in (CallEventKind.HELD, CallEventKind.RESUMED):
            return _hold_event(kind, _object(data, "data", name), name)
        return CallEvent(kind=kind, call=parse_call(data))
    if name == DND_EVENT:
        obj = _object(data, "data", name)
        return DndChanged(user_uuid=_str(obj, "user_uuid", name), enabled=_bool(obj, "enabled", name))
    forward = FORWARD_EVENTS.get(name)
    if forward is not None:
        obj = _object(data, "data", name)
        destination = obj.get("destination")
        return ForwardChanged(
            user_uuid=_str(obj, "user_uuid", name),
            kind=forward,
            enabled=_bool(obj, "enabled", name),
            destination=destination if isinstance(destination, str) else None,
        )
    if name == VOICEMAIL_EVENT:
        return _voicemail(_object(data, "data", name), name)
    if name in USER_EVENTS:
        return UsersChanged(name, _str(_object(data, "data", name), "uuid", name))
    if name in USER_LINE_EVENTS:
        user = _object(_require(_object(data, "data", name), "user", name), "user", name)
        return UsersChanged(name, _str(user, "uuid", name))
    if name in LINE_EXTENSION_EVENTS:
        return UsersChanged(name)
    return None
