"""Wazo JSON documents shaped as the reference describes them (wazo-api.md §§5.2, 7.2, 7.5, 8.1)."""

from __future__ import annotations

from typing import Any

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
TENANT = "99999999-9999-4999-8999-999999999999"


def presence(
    user_uuid: str,
    line_state: str = "available",
    *,
    dnd: bool = False,
    state: str = "available",
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "uuid": user_uuid,
        "tenant_uuid": TENANT,
        "state": state,
        "status": None,
        "last_activity": None,
        "mobile": False,
        "do_not_disturb": dnd,
        "connected": True,
        "lines": lines if lines is not None else [{"id": 1, "state": line_state}],
        "line_state": line_state,
    }


def call(
    call_id: str,
    user_uuid: str,
    status: str = "Ringing",
    *,
    peer_number: str = "1002",
    peer_name: str = "Bob",
    is_caller: bool = False,
    on_hold: bool = False,
    line_id: int | None = 1,
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "conversation_id": call_id,
        "user_uuid": user_uuid,
        "status": status,
        "talking_to": {},
        "bridges": [],
        "creation_time": "2026-01-02T03:04:05.678-0500",
        "direction": "internal",
        "caller_id_name": "Alice",
        "caller_id_number": "1001",
        "peer_caller_id_name": peer_name,
        "peer_caller_id_number": peer_number,
        "on_hold": on_hold,
        "muted": False,
        "record_state": "inactive",
        "is_caller": is_caller,
        "is_video": False,
        "parked": False,
        "dialed_extension": "1002",
        "sip_call_id": None,
        "line_id": line_id,
    }
