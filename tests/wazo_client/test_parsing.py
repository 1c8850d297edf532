"""Event and REST JSON → domain values, including documents of the wrong shape."""

from __future__ import annotations

import pytest

from presence.model import (
    CallEvent,
    CallEventKind,
    CallStatus,
    DndChanged,
    ForwardChanged,
    LineState,
    PhoneSnapshot,
    UsersChanged,
    VoicemailReceived,
    WazoPresenceState,
)
from presence.sources.wazo.errors import WazoShapeError
from presence.sources.wazo.parsing import (
    SUBSCRIBED_EVENTS,
    call_status,
    parse_bus_event,
    parse_call_list,
    parse_presence_list,
)
from tests.wazo_client.payloads import ALICE, BOB, call, presence


def test_presence_event_becomes_snapshot_with_lines_dnd_and_wazo_state() -> None:
    lines = [{"id": 12, "state": "talking"}, {"id": 13, "state": "unavailable"}]
    event = parse_bus_event(
        "chatd_presence_updated", presence(ALICE, "talking", dnd=True, state="away", lines=lines)
    )
    assert isinstance(event, PhoneSnapshot)
    state = event.state
    assert state.user_uuid == ALICE
    assert state.line_state is LineState.TALKING
    assert state.do_not_disturb is True
    assert state.wazo_state is WazoPresenceState.AWAY
    assert state.lines == ((12, LineState.TALKING), (13, LineState.UNAVAILABLE))
    assert state.calls == ()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("call_created", CallEventKind.CREATED),
        ("call_updated", CallEventKind.UPDATED),
        ("call_answered", CallEventKind.ANSWERED),
        ("call_ended", CallEventKind.ENDED),
    ],
)
def test_call_events_carry_the_whole_call(name: str, kind: CallEventKind) -> None:
    event = parse_bus_event(name, call("1700.1", ALICE, "Up", peer_number="1002", peer_name="Bob"))
    assert isinstance(event, CallEvent)
    assert event.kind is kind
    assert event.call.call_id == "1700.1"
    assert event.call.user_uuid == ALICE
    assert event.call.status is CallStatus.UP
    assert (event.call.peer_number, event.call.peer_name) == ("1002", "Bob")
    assert event.call.line_id == 1


def test_peer_number_falls_back_to_dialed_extension_and_null_names_become_empty() -> None:
    payload = call("1700.2", ALICE, "Ring", is_caller=True)
    payload["peer_caller_id_number"] = None
    payload["peer_caller_id_name"] = None
    event = parse_bus_event("call_created", payload)
    assert isinstance(event, CallEvent)
    assert event.call.peer_number == "1002"
    assert event.call.peer_name == ""
    assert event.call.status is CallStatus.PROGRESSING
    assert event.call.is_caller is True


@pytest.mark.parametrize(
    ("status", "on_hold", "is_caller", "expected"),
    [
        ("Ringing", False, False, CallStatus.RINGING),
        ("Ring", False, True, CallStatus.PROGRESSING),
        ("Up", False, False, CallStatus.UP),
        ("Up", True, False, CallStatus.HELD),
        ("Down", False, True, CallStatus.PROGRESSING),
        ("Down", False, False, CallStatus.RINGING),
    ],
)
def test_channel_status_mapping(status: str, on_hold: bool, is_caller: bool, expected: CallStatus) -> None:
    assert call_status(status, on_hold=on_hold, is_caller=is_caller) is expected


def test_hold_and_resume_carry_only_the_call_id() -> None:
    held = parse_bus_event("call_held", {"call_id": "1700.3", "user_uuid": BOB})
    resumed = parse_bus_event("call_resumed", {"call_id": "1700.3", "user_uuid": BOB})
    assert isinstance(held, CallEvent)
    assert isinstance(resumed, CallEvent)
    assert (held.kind, held.call.status) == (CallEventKind.HELD, CallStatus.HELD)
    assert (resumed.kind, resumed.call.status) == (CallEventKind.RESUMED, CallStatus.UP)


def test_dnd_and_voicemail_events() -> None:
    dnd = parse_bus_event(
        "users_services_dnd_updated",
        {"user_id": 3, "user_uuid": ALICE, "tenant_uuid": "t", "enabled": True},
    )
    assert dnd == DndChanged(user_uuid=ALICE, enabled=True)
    voicemail = parse_bus_event(
        "user_voicemail_message_created",
        {
            "user_uuid": ALICE,
            "voicemail_id": 4,
            "message_id": "1700000000-00000001",
            "message": {
                "id": "1700000000-00000001",
                "caller_id_name": "Bob",
                "caller_id_num": "1002",
                "duration": 42,
                "timestamp": 1700000000,
                "folder": {"id": 1, "name": "inbox", "type": "new"},
            },
        },
    )
    assert voicemail == VoicemailReceived(
        user_uuid=ALICE,
        message_id="1700000000-00000001",
        caller_number="1002",
        caller_name="Bob",
        duration_seconds=42,
        folder="new",
        timestamp=1700000000,
    )


def test_unused_event_names_give_none() -> None:
    assert parse_bus_event("chatd_user_room_created", {"uuid": "x"}) is None


def test_subscribed_names_are_exactly_the_parsed_ones() -> None:
    assert set(SUBSCRIBED_EVENTS) == {
        "chatd_presence_updated",
        "call_created",
        "call_updated",
        "call_answered",
        "call_held",
        "call_resumed",
        "call_ended",
        "users_services_dnd_updated",
        "users_forwards_busy_updated",
        "users_forwards_noanswer_updated",
        "users_forwards_unconditional_updated",
        "user_voicemail_message_created",
        "user_created",
        "user_edited",
        "user_deleted",
        "user_line_associated",
        "user_line_dissociated",
        "line_extension_associated",
        "line_extension_dissociated",
    }


def test_user_life_cycle_events_say_who_changed() -> None:
    body = {"id": 9, "uuid": ALICE, "subscription_type": 0, "created_at": None, "tenant_uuid": "T"}
    for name in ("user_created", "user_edited", "user_deleted"):
        assert parse_bus_event(name, body) == UsersChanged(name, ALICE)
    line = {
        "line": {"id": 3, "name": "x"},
        "main_line": True,
        "main_user": True,
        "user": {"id": 9, "uuid": ALICE},
    }
    assert parse_bus_event("user_line_associated", line) == UsersChanged("user_line_associated", ALICE)
    extension = {"line_id": 3, "extension_id": 4}
    assert parse_bus_event("line_extension_dissociated", extension) == UsersChanged(
        "line_extension_dissociated"
    )


def test_forward_events() -> None:
    event = parse_bus_event(
        "users_forwards_unconditional_updated",
        {"user_id": 3, "user_uuid": ALICE, "tenant_uuid": "t", "enabled": True, "destination": "+331"},
    )
    assert event == ForwardChanged(user_uuid=ALICE, kind="unconditional", enabled=True, destination="+331")
    off = parse_bus_event(
        "users_forwards_busy_updated",
        {"user_id": 3, "user_uuid": ALICE, "tenant_uuid": "t", "enabled": False, "destination": None},
    )
    assert off == ForwardChanged(user_uuid=ALICE, kind="busy", enabled=False, destination=None)


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [
        ("chatd_presence_updated", {**presence(ALICE), "line_state": "on-fire"}, "line_state"),
        ("chatd_presence_updated", {k: v for k, v in presence(ALICE).items() if k != "uuid"}, "uuid"),
        ("chatd_presence_updated", {**presence(ALICE), "lines": [{"id": "x", "state": "talking"}]}, "id"),
        ("chatd_presence_updated", "not an object", "data"),
        ("call_created", {k: v for k, v in call("1", ALICE).items() if k != "call_id"}, "call_id"),
        ("call_updated", {**call("1", ALICE), "on_hold": "yes"}, "on_hold"),
        ("call_ended", {**call("1", ALICE), "line_id": True}, "line_id"),
        ("call_held", {"call_id": "1"}, "user_uuid"),
        ("users_services_dnd_updated", {"user_uuid": ALICE, "enabled": "true"}, "enabled"),
        ("user_voicemail_message_created", {"user_uuid": ALICE, "message_id": "1"}, "message"),
        ("user_edited", {"id": 9, "tenant_uuid": "T"}, "uuid"),
        ("user_line_associated", {"line": {"id": 3}, "user": {"id": 9}}, "uuid"),
    ],
)
def test_malformed_events_name_the_key_at_fault(name: str, data: object, key: str) -> None:
    with pytest.raises(WazoShapeError) as caught:
        parse_bus_event(name, data)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_lists_from_rest() -> None:
    states = parse_presence_list({"items": [presence(ALICE), presence(BOB, "ringing")], "total": 2})
    assert [(s.user_uuid, s.line_state) for s in states] == [
        (ALICE, LineState.AVAILABLE),
        (BOB, LineState.RINGING),
    ]
    trunk_leg = {**call("9", ALICE), "user_uuid": None}
    calls = parse_call_list({"items": [call("1", ALICE), trunk_leg]})
    assert [c.call_id for c in calls] == ["1"]
    with pytest.raises(WazoShapeError):
        parse_presence_list({"total": 0})


def test_one_malformed_list_item_is_skipped_and_named() -> None:
    skipped: list[tuple[int, str]] = []

    def on_skip(index: int, error: WazoShapeError) -> None:
        skipped.append((index, error.key))

    carol = "33333333-3333-4333-8333-333333333333"
    body = {"items": [presence(ALICE), {**presence(BOB), "line_state": "on-a-boat"}, presence(carol)]}
    states = parse_presence_list(body, on_skip)
    assert [s.user_uuid for s in states] == [ALICE, carol]
    assert skipped == [(1, "line_state")]
    skipped.clear()
    calls = parse_call_list({"items": [{**call("1", ALICE), "status": None}, call("2", BOB)]}, on_skip)
    assert [c.call_id for c in calls] == ["2"]
    assert skipped == [(0, "status")]
    with pytest.raises(WazoShapeError):  # without on_skip, strict as before
        parse_call_list({"items": [{**call("1", ALICE), "status": None}]})
