"""One call leg (one Asterisk channel owned by a user) and its calld ``Call`` representation."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# ARI channel states the simulator uses (reference wazo-api.md §6 and §7.2):
RINGING = "Ringing"  # this phone rings            -> chatd line state ringing
RING = "Ring"  # this side waits for the far end to answer -> progressing
UP = "Up"  # answered                                   -> talking

# Asterisk hangup causes used as ``reason_code`` of call_ended.
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_ANSWER = 19  # the ring time ran out
SUBSCRIBER_ABSENT = 20
ANSWERED_ELSEWHERE = 26

_sequence = itertools.count(1)


def new_channel_id() -> str:
    """An Asterisk uniqueid: ``<epoch seconds>.<sequence>``."""
    return f"{int(time.time())}.{next(_sequence)}"


def ari_time(moment: datetime) -> str:
    """ARI's timestamp style, e.g. ``2016-02-10T11:57:02.592-0500``."""
    local = moment.astimezone()
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


@dataclass(slots=True)
class Destination:
    """Where an originated call goes once the caller's own phone is answered."""

    user_uuid: str
    line_id: int
    exten: str


@dataclass(slots=True)
class CallLeg:
    """A user's channel. ``peer_call_id`` links the other user's leg of the same conversation."""

    call_id: str
    conversation_id: str
    user_uuid: str
    tenant_uuid: str
    line_id: int
    line_name: str
    status: str
    is_caller: bool
    direction: str  # internal | inbound | outbound
    caller_id_name: str
    caller_id_number: str
    peer_caller_id_name: str = ""
    peer_caller_id_number: str = ""
    dialed_extension: str = ""
    peer_call_id: str | None = None
    peer_user_uuid: str | None = None
    pending_destination: Destination | None = None  # set while an originate waits for the caller
    # Set when calld rang the user's mobile instead of a line (``from_mobile``): no line's state
    # changes, and the Call object has no line_id.
    mobile_number: str = ""
    on_hold: bool = False
    muted: bool = False
    bridge_id: str | None = None
    creation_time: datetime = field(default_factory=datetime.now)
    answer_time: datetime | None = None
    hangup_time: datetime | None = None
    sip_call_id: str = field(default_factory=lambda: f"{new_channel_id()}@sim.wazo")

    def to_dict(self) -> dict[str, Any]:
        """calld's ``CallSchema`` dump (reference wazo-api.md §7.2)."""
        talking_to: dict[str, str | None] = {}
        if self.status == UP and self.peer_call_id is not None:
            talking_to[self.peer_call_id] = self.peer_user_uuid
        return {
            "bridges": [self.bridge_id] if self.bridge_id else [],
            "call_id": self.call_id,
            "conversation_id": self.conversation_id,
            "creation_time": ari_time(self.creation_time),
            "answer_time": ari_time(self.answer_time) if self.answer_time else None,
            "hangup_time": ari_time(self.hangup_time) if self.hangup_time else None,
            "status": self.status,
            "on_hold": self.on_hold,
            "muted": self.muted,
            "record_state": "inactive",
            "talking_to": talking_to,
            "user_uuid": self.user_uuid,
            "caller_id_name": self.caller_id_name,
            "caller_id_number": self.caller_id_number,
            "peer_caller_id_name": self.peer_caller_id_name,
            # calld falls back to the dialed extension while the far end is unknown (§7.2).
            "peer_caller_id_number": self.peer_caller_id_number or self.dialed_extension,
            "sip_call_id": self.sip_call_id,
            "line_id": None if self.mobile_number else self.line_id,
            "is_caller": self.is_caller,
            "is_video": False,
            "dialed_extension": self.dialed_extension,
            "direction": self.direction,
            "parked": False,
        }
