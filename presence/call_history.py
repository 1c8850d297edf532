"""Each user's call history and the call notices, decided from Wazo's call events. Pure: no I/O,
the clock is passed in.

History is learnt from calld's call events (``call_created`` / ``updated`` / ``answered`` /
``ended``), never from presence changes: an event names the user owning the leg, whether they
placed it (``is_caller``), the other party and whether it was answered.

One history entry per user and conversation. calld gives every leg of one conversation the same
``conversation_id`` (the Asterisk linkedid): a user whose desk phone and softphone both ring gets
two legs, and answering on one must not leave a "missed call" from the other. The entry is made
when the user's last leg of the conversation ends:

======================  ===============================  =================
the user's legs         ever answered (Up / answered)     outcome
======================  ===============================  =================
incoming (not caller)   yes                               answered
incoming                no                                missed
outgoing (caller)       yes                               answered
outgoing                no                                not_answered
======================  ===============================  =================

A missed call may still reach the user's voicemail: Wazo sends the caller to the user's no-answer
fallback after the ringing leg ended, and ``user_voicemail_message_created`` comes only once the
caller has finished speaking. :func:`match_voicemail` turns the missed entry from that caller into
a ``voicemail`` entry (or makes a new one: a call sent to voicemail by Do not disturb never rang);
the adapter holds the missed-call notice back for a while so that a voicemail cancels it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum

from presence.model import (
    Call,
    CallEvent,
    CallEventKind,
    CallsResynced,
    CallStatus,
    UserUuid,
    VoicemailReceived,
)

# Rows of the Recent calls list, newest first, which "call back N" numbers from 1.
ROWS_SHOWN = 20
# How long after a missed call a voicemail from the same number is taken as the same call.
VOICEMAIL_MATCH_WINDOW_S = 600.0


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Outcome(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"  # incoming, never answered, no voicemail (yet)
    VOICEMAIL = "voicemail"  # incoming, the caller left a voicemail message
    NOT_ANSWERED = "not_answered"  # outgoing, never answered


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    user_uuid: UserUuid
    key: str  # the conversation id; "vm:<message id>" for a voicemail that matched no call
    direction: Direction
    outcome: Outcome
    number: str  # the other party's number ("" when withheld)
    name: str  # the other party's name as the PBX gave it ("" when none)
    started_at: float  # unix seconds
    duration_s: int = 0  # talking time; 0 when not answered


@dataclass(frozen=True, slots=True)
class Ringing:
    """An incoming call started ringing on the user's phone (the incoming-call notice)."""

    user_uuid: UserUuid
    key: str
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class Ended:
    """A call of the user is over: its history entry (``missed``: a missed-call notice candidate)."""

    entry: HistoryEntry


Decision = Ringing | Ended


@dataclass(slots=True)
class _OpenCall:
    user_uuid: UserUuid
    key: str
    direction: Direction
    number: str
    name: str
    started_at: float
    answered_at: float | None = None
    legs: set[str] = field(default_factory=set)


def _key(call: Call) -> str:
    return call.conversation_id or call.call_id


class CallHistoryTracker:
    """Open calls per (user, conversation), fed with call events; says what each event means.

    Ended call ids are remembered (bounded) so that a late ``call_updated`` or a resynchronisation
    snapshot taken just before a hangup cannot open an ended call again.
    """

    def __init__(self, ended_memory: int = 4096) -> None:
        self._open: dict[tuple[UserUuid, str], _OpenCall] = {}
        self._leg_owner: dict[str, tuple[UserUuid, str]] = {}  # call id -> open call
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._ended_memory = ended_memory

    @property
    def open_calls(self) -> int:
        return len(self._open)

    def apply(self, event: CallEvent | CallsResynced, now: float) -> list[Decision]:
        if isinstance(event, CallsResynced):
            return self._resync(event.calls, now)
        call = event.call
        if event.kind is CallEventKind.ENDED:
            return self._end(call, now)
        if call.call_id in self._ended:
            return []
        if event.kind in (CallEventKind.HELD, CallEventKind.RESUMED):
            # Only the call id: a held call was answered; one we never saw opened is left alone.
            owner = self._leg_owner.get(call.call_id)
            if owner is not None and self._open[owner].answered_at is None:
                self._open[owner].answered_at = now
            return []
        return self._see(call, now, answered=event.kind is CallEventKind.ANSWERED)

    # --- one leg seen alive --------------------------------------------------------------------

    def _see(self, call: Call, now: float, answered: bool) -> list[Decision]:
        decisions: list[Decision] = []
        owner = self._leg_owner.get(call.call_id) or (call.user_uuid, _key(call))
        current = self._open.get(owner)
        if current is None:
            current = _OpenCall(
                user_uuid=call.user_uuid,
                key=owner[1],
                direction=Direction.OUTGOING if call.is_caller else Direction.INCOMING,
                number=call.peer_number,
                name=call.peer_name,
                started_at=now,
            )
            self._open[owner] = current
            if current.direction is Direction.INCOMING and call.status is CallStatus.RINGING:
                decisions.append(Ringing(call.user_uuid, current.key, current.number, current.name))
        current.legs.add(call.call_id)
        self._leg_owner[call.call_id] = owner
        # The far end's caller id may be learnt after the leg appears (NewConnectedLine).
        if call.peer_number:
            current.number = call.peer_number
        if call.peer_name:
            current.name = call.peer_name
        if current.answered_at is None and (answered or call.status in (CallStatus.UP, CallStatus.HELD)):
            current.answered_at = now
        return decisions

    # --- one leg ended -------------------------------------------------------------------------

    def _forget(self, call_id: str) -> None:
        self._ended[call_id] = None
        self._ended.move_to_end(call_id)
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)

    def _end(self, call: Call, now: float) -> list[Decision]:
        if call.call_id in self._ended:
            return []
        if call.call_id not in self._leg_owner:
            # Never seen alive (it started before we listened): take what its last state says;
            # it no longer rings, so no incoming-call notice for it.
            self._see(call, now, answered=False)
        return self._close_leg(call.call_id, now)

    def _close_leg(self, call_id: str, now: float) -> list[Decision]:
        self._forget(call_id)
        owner = self._leg_owner.pop(call_id)
        current = self._open[owner]
        current.legs.discard(call_id)
        if current.legs:
            return []  # another line of the same user still has the call
        del self._open[owner]
        return [Ended(_entry(current, now))]

    def _resync(self, calls: Sequence[Call], now: float) -> list[Decision]:
        """Every call alive now: legs we hold that are not in it ended while we were not listening."""
        alive = {call.call_id for call in calls}
        decisions: list[Decision] = []
        for call_id in [c for c in self._leg_owner if c not in alive]:
            decisions += self._close_leg(call_id, now)
        for call in calls:
            if call.call_id not in self._ended:
                decisions += self._see(call, now, answered=False)
        return decisions


def _entry(call: _OpenCall, now: float) -> HistoryEntry:
    answered = call.answered_at is not None
    if call.direction is Direction.INCOMING:
        outcome = Outcome.ANSWERED if answered else Outcome.MISSED
    else:
        outcome = Outcome.ANSWERED if answered else Outcome.NOT_ANSWERED
    duration = int(now - call.answered_at) if call.answered_at is not None else 0
    return HistoryEntry(
        user_uuid=call.user_uuid,
        key=call.key,
        direction=call.direction,
        outcome=outcome,
        number=call.number,
        name=call.name,
        started_at=call.started_at,
        duration_s=max(0, duration),
    )


def _same_number(a: str, b: str) -> bool:
    def digits(text: str) -> str:
        return "".join(c for c in text if c.isdigit() or c == "+")

    return digits(a) == digits(b)


def match_voicemail(
    message: VoicemailReceived,
    recent: Iterable[HistoryEntry],
    now: float,
    window_s: float = VOICEMAIL_MATCH_WINDOW_S,
) -> HistoryEntry:
    """The history entry a voicemail message makes.

    The newest missed call of the same user from the same number within ``window_s`` becomes a
    ``voicemail`` entry (same key: the list shows the call once); else a new ``voicemail`` entry
    keyed by the message (a call Do not disturb sent straight to voicemail never rang).
    """
    for entry in sorted(recent, key=lambda e: e.started_at, reverse=True):
        if (
            entry.user_uuid == message.user_uuid
            and entry.outcome is Outcome.MISSED
            and now - entry.started_at <= window_s
            and _same_number(entry.number, message.caller_number)
        ):
            return HistoryEntry(
                user_uuid=entry.user_uuid,
                key=entry.key,
                direction=Direction.INCOMING,
                outcome=Outcome.VOICEMAIL,
                number=entry.number or message.caller_number,
                name=entry.name or message.caller_name,
                started_at=entry.started_at,
            )
    return HistoryEntry(
        user_uuid=message.user_uuid,
        key=f"vm:{message.message_id}",
        direction=Direction.INCOMING,
        outcome=Outcome.VOICEMAIL,
        number=message.caller_number,
        name=message.caller_name,
        started_at=now,
    )


def latest_caller(entries: Sequence[HistoryEntry]) -> int | None:
    """The index (in newest-first ``entries``) of the newest incoming call with a number."""
    return next(
        (i for i, e in enumerate(entries) if e.direction is Direction.INCOMING and e.number),
        None,
    )


# --- what the user reads ------------------------------------------------------------------------


def who(name: str, number_shown: str) -> str:
    """ "Bob Martin (1002)", "1002", or "an unknown caller" (withheld number)."""
    if (
        name
        and number_shown
        and name != number_shown
        and name.replace(" ", "") != number_shown.replace(" ", "")
    ):
        return f"{name} ({number_shown})"
    return number_shown or name or "an unknown caller"


def clock_time(moment: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(moment, zone).strftime("%H:%M")


def missed_call_text(entry: HistoryEntry, caller: str, zone: tzinfo) -> str:
    return f"Missed call from {caller} at {clock_time(entry.started_at, zone)}"


def incoming_call_text(caller: str) -> str:
    return f"{caller[0].upper()}{caller[1:]} is calling"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def entry_label(entry: HistoryEntry, party: str, zone: tzinfo) -> str:
    """One row of the Recent calls list, e.g. "Missed call from Bob Martin (1002), 03 Dec 14:05"."""
    when = datetime.fromtimestamp(entry.started_at, zone).strftime("%d %b %H:%M")
    if entry.direction is Direction.OUTGOING:
        tail = f", {_duration(entry.duration_s)}" if entry.outcome is Outcome.ANSWERED else ", no answer"
        return f"Outgoing call to {party}, {when}{tail}"
    if entry.outcome is Outcome.MISSED:
        return f"Missed call from {party}, {when}"
    if entry.outcome is Outcome.VOICEMAIL:
        return f"Voicemail from {party}, {when}"
    return f"Incoming call from {party}, {when}, {_duration(entry.duration_s)}"
