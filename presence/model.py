"""Typed domain values shared by every part of the component.

Sources (Wazo, chat, calendar) turn what they receive into these values; the hub keeps the
latest of each per user; the merge turns them into one :class:`CombinedPresence`. All values
are immutable so they can be shared between coroutines and compared cheaply for change detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

UserUuid = str


class LineState(StrEnum):
    """Aggregate phone line state, exactly wazo-chatd's ``line_state`` vocabulary."""

    AVAILABLE = "available"
    HOLDING = "holding"
    RINGING = "ringing"
    PROGRESSING = "progressing"
    TALKING = "talking"
    UNAVAILABLE = "unavailable"


# chatd's aggregation order across lines (reference wazo-api.md §6): first present wins.
LINE_STATE_PRIORITY: tuple[LineState, ...] = (
    LineState.RINGING,
    LineState.PROGRESSING,
    LineState.HOLDING,
    LineState.TALKING,
    LineState.AVAILABLE,
    LineState.UNAVAILABLE,
)


def aggregate_line_states(states: tuple[LineState, ...] | list[LineState]) -> LineState:
    """Per-user line state from per-line states, as wazo-chatd computes it."""
    present = set(states)
    for candidate in LINE_STATE_PRIORITY:
        if candidate in present:
            return candidate
    return LineState.UNAVAILABLE


class WazoPresenceState(StrEnum):
    """The state a user set in Wazo's own apps (chatd ``state``)."""

    AVAILABLE = "available"
    AWAY = "away"
    UNAVAILABLE = "unavailable"
    INVISIBLE = "invisible"


class CallStatus(StrEnum):
    """Life-cycle of one call leg as seen from the user owning it (calld ``status``)."""

    RINGING = "ringing"  # this user's phone rings (incoming)
    PROGRESSING = "progressing"  # this user dialled; the other side rings
    UP = "up"  # talking
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a user, with what a person needs to recognise it."""

    call_id: str
    user_uuid: UserUuid
    status: CallStatus
    peer_number: str = ""
    peer_name: str = ""
    is_caller: bool = False  # True when this user placed the call
    line_id: int | None = None
    # Shared by every leg of one conversation (the Asterisk linkedid): the call history counts
    # a call ringing on two lines of the same user once.
    conversation_id: str = ""


@dataclass(frozen=True, slots=True)
class PhoneState:
    """Everything Wazo tells about one user's phone, at one instant."""

    user_uuid: UserUuid
    line_state: LineState = LineState.UNAVAILABLE
    do_not_disturb: bool = False
    wazo_state: WazoPresenceState = WazoPresenceState.UNAVAILABLE
    lines: tuple[tuple[int, LineState], ...] = ()
    calls: tuple[Call, ...] = ()

    @property
    def registered(self) -> bool:
        """At least one line can receive calls (not unavailable)."""
        return self.line_state is not LineState.UNAVAILABLE

    def with_calls(self, calls: tuple[Call, ...]) -> PhoneState:
        """This state with other calls: what every call event does, so written out
        (``dataclasses.replace`` looks the fields up at each call, 4 times per click-to-call)."""
        return PhoneState(
            self.user_uuid, self.line_state, self.do_not_disturb, self.wazo_state, self.lines, calls
        )


class ImShow(StrEnum):
    """A user's chat presence, from RFC 6121 ``<show>`` plus the two presence types."""

    CHAT = "chat"
    AVAILABLE = "available"  # no <show>
    AWAY = "away"
    XA = "xa"
    DND = "dnd"
    OFFLINE = "offline"  # unavailable on every resource


@dataclass(frozen=True, slots=True)
class ImState:
    """The merged chat presence of one user across their resources."""

    show: ImShow = ImShow.OFFLINE
    status: str = ""


@dataclass(frozen=True, slots=True)
class CalendarState:
    """Whether the user's calendar has a busy event now. The title is never kept."""

    busy: bool = False
    until: datetime | None = None


class Activity(StrEnum):
    """What a watcher is told the user is doing: one value per row of the merge table."""

    AVAILABLE = "available"
    REACHABLE_BY_PHONE = "reachable_by_phone"
    RINGING = "ringing"
    CALLING = "calling"
    ON_THE_PHONE = "on_the_phone"
    ON_HOLD = "on_hold"
    DO_NOT_DISTURB = "do_not_disturb"
    IN_A_MEETING = "in_a_meeting"
    AWAY = "away"
    EXTENDED_AWAY = "extended_away"
    CHATTY = "chatty"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class CombinedPresence:
    """The presence published for ``user@phone.<domain>``: RFC 6121 show/status plus the raw inputs.

    ``show`` is ``None`` for plain available; ``available`` False means type='unavailable'.
    """

    activity: Activity
    available: bool
    show: str | None
    status: str
    in_call: bool = False
    raw: tuple[tuple[str, str], ...] = field(default=())


# --- Events: what sources emit, as typed values -------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhoneSnapshot:
    """A full state for one user (chatd presence, or the result of a resynchronisation).

    chatd does not know calls: a snapshot built from a chatd presence has ``calls == ()`` and the
    Wazo phone-state tracker keeps the calls it learnt from call events and :class:`CallsResynced`.
    """

    state: PhoneState


@dataclass(frozen=True, slots=True)
class PresencesResynced:
    """Every user's chatd presence at one instant (``GET /users/presences`` on each event-stream
    (re)connect), as one event: 50,000 snapshots went through every consumer one by one in 0.7 s.

    A user missing from ``states`` keeps what was known (chatd lists the users it has).
    """

    states: tuple[PhoneState, ...]


@dataclass(frozen=True, slots=True)
class DndChanged:
    user_uuid: UserUuid
    enabled: bool


@dataclass(frozen=True, slots=True)
class ForwardChanged:
    """A user's forward changed on the PBX (by them, an admin, or the component's rules)."""

    user_uuid: UserUuid
    kind: str  # busy | noanswer | unconditional
    enabled: bool
    destination: str | None = None


class CallEventKind(StrEnum):
    CREATED = "created"
    ANSWERED = "answered"
    HELD = "held"
    RESUMED = "resumed"
    UPDATED = "updated"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallEvent:
    kind: CallEventKind
    call: Call


@dataclass(frozen=True, slots=True)
class VoicemailReceived:
    user_uuid: UserUuid
    message_id: str
    caller_number: str
    caller_name: str
    duration_seconds: int
    folder: str = "new"
    timestamp: int = 0  # when the message was left (Unix time); 0: not given


@dataclass(frozen=True, slots=True)
class CallsResynced:
    """Every call Wazo had at one instant (calld ``GET /calls`` on each event-stream (re)connect).

    Users with no call in ``calls`` had none: calls that ended while the stream was down go away.
    """

    calls: tuple[Call, ...]
    # True for the periodic reconciliation on a live stream (nothing was missed that we know of);
    # False after a (re)connection, when anything, Wazo's user list included, may have changed.
    periodic: bool = False


@dataclass(frozen=True, slots=True)
class UsersChanged:
    """Wazo's user directory changed (a user created, edited or deleted, a line or extension
    (dis)associated): who is who must be read again. ``user_uuid`` is empty when the event
    names no user (an extension moved between lines)."""

    event_name: str
    user_uuid: UserUuid = ""


PhoneEvent = (
    PhoneSnapshot
    | PresencesResynced
    | DndChanged
    | ForwardChanged
    | CallEvent
    | VoicemailReceived
    | CallsResynced
    | UsersChanged
)
