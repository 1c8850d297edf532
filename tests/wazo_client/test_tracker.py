"""The pure per-user phone state tracker."""

from __future__ import annotations

from presence.model import (
    Call,
    CallEvent,
    CallEventKind,
    CallsResynced,
    CallStatus,
    DndChanged,
    LineState,
    PhoneSnapshot,
    PhoneState,
    PresencesResynced,
    VoicemailReceived,
)
from presence.sources.wazo.tracker import PhoneStateTracker
from tests.wazo_client.payloads import ALICE, BOB

CAROL = "33333333-3333-4333-8333-333333333333"


def _call(call_id: str, user: str = ALICE, status: CallStatus = CallStatus.RINGING) -> Call:
    return Call(call_id=call_id, user_uuid=user, status=status, peer_number="1002", peer_name="Bob")


def test_unknown_user_has_the_default_state() -> None:
    assert PhoneStateTracker().get(ALICE) == PhoneState(user_uuid=ALICE)


def test_snapshot_sets_chatd_fields_and_keeps_known_calls() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c1")))
    changed = tracker.apply(
        PhoneSnapshot(PhoneState(user_uuid=ALICE, line_state=LineState.RINGING, do_not_disturb=True))
    )
    assert len(changed) == 1
    state = tracker.get(ALICE)
    assert state.line_state is LineState.RINGING
    assert state.do_not_disturb is True
    assert [c.call_id for c in state.calls] == ["c1"]


def test_a_resync_of_presences_reports_only_who_changed_and_keeps_calls_and_absent_users() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c1")))
    tracker.apply(PhoneSnapshot(PhoneState(user_uuid=CAROL, line_state=LineState.TALKING)))
    changed = tracker.apply(
        PresencesResynced(
            (
                PhoneState(user_uuid=ALICE, line_state=LineState.RINGING),
                PhoneState(user_uuid=BOB, line_state=LineState.UNAVAILABLE),  # the default: no change
            )
        )
    )
    assert [state.user_uuid for state in changed] == [ALICE]
    assert [c.call_id for c in tracker.get(ALICE).calls] == ["c1"]
    assert tracker.get(CAROL).line_state is LineState.TALKING  # chatd did not list her: kept


def test_reports_no_change_when_nothing_changes() -> None:
    tracker = PhoneStateTracker()
    snapshot = PhoneSnapshot(PhoneState(user_uuid=ALICE, line_state=LineState.AVAILABLE))
    assert tracker.apply(snapshot) != ()
    assert tracker.apply(snapshot) == ()
    assert tracker.apply(DndChanged(ALICE, False)) == ()
    assert tracker.apply(DndChanged(ALICE, True)) == (tracker.get(ALICE),)
    assert tracker.apply(VoicemailReceived(ALICE, "m", "1002", "Bob", 3)) == ()


def test_call_life_cycle() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c1")))
    tracker.apply(CallEvent(CallEventKind.ANSWERED, _call("c1", status=CallStatus.UP)))
    assert tracker.get(ALICE).calls[0].status is CallStatus.UP
    held_only_id = Call(call_id="c1", user_uuid=ALICE, status=CallStatus.HELD)
    assert tracker.apply(CallEvent(CallEventKind.HELD, held_only_id)) != ()
    held = tracker.get(ALICE).calls[0]
    # the hold event has no peer; the peer learnt at creation stays
    assert (held.status, held.peer_number, held.peer_name) == (CallStatus.HELD, "1002", "Bob")
    tracker.apply(CallEvent(CallEventKind.RESUMED, Call("c1", ALICE, CallStatus.UP)))
    assert tracker.get(ALICE).calls[0].status is CallStatus.UP
    tracker.apply(CallEvent(CallEventKind.ENDED, _call("c1", status=CallStatus.UP)))
    assert tracker.get(ALICE).calls == ()


def test_hold_of_an_unknown_call_changes_nothing() -> None:
    tracker = PhoneStateTracker()
    assert tracker.apply(CallEvent(CallEventKind.HELD, Call("zz", ALICE, CallStatus.HELD))) == ()


def test_ended_call_is_not_resurrected_by_late_update_or_resync() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c1")))
    tracker.apply(CallEvent(CallEventKind.ENDED, _call("c1")))
    assert tracker.apply(CallEvent(CallEventKind.UPDATED, _call("c1", status=CallStatus.UP))) == ()
    tracker.apply(CallsResynced((_call("c1"), _call("c2", BOB))))
    assert tracker.get(ALICE).calls == ()
    assert [c.call_id for c in tracker.get(BOB).calls] == ["c2"]


def test_resync_replaces_everyones_calls() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("gone")))
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("kept", BOB)))
    changed = tracker.apply(CallsResynced((_call("kept", BOB, CallStatus.UP),)))
    assert {s.user_uuid for s in changed} == {ALICE, BOB}
    assert tracker.get(ALICE).calls == ()
    assert tracker.get(BOB).calls[0].status is CallStatus.UP


def test_two_calls_of_one_user_are_kept_in_arrival_order() -> None:
    tracker = PhoneStateTracker()
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c1", status=CallStatus.UP)))
    tracker.apply(CallEvent(CallEventKind.CREATED, _call("c2")))
    tracker.apply(CallEvent(CallEventKind.UPDATED, _call("c1", status=CallStatus.HELD)))
    assert [(c.call_id, c.status) for c in tracker.get(ALICE).calls] == [
        ("c1", CallStatus.HELD),
        ("c2", CallStatus.RINGING),
    ]
