"""The pure call-history rules: direction and outcome from call events, one entry per conversation,
resynchronisation, voicemail matching and the texts users read."""

from __future__ import annotations

from datetime import UTC

from presence.call_history import (
    CallHistoryTracker,
    Direction,
    Ended,
    HistoryEntry,
    Outcome,
    Ringing,
    entry_label,
    incoming_call_text,
    latest_caller,
    match_voicemail,
    missed_call_text,
    who,
)
from presence.model import Call, CallEvent, CallEventKind, CallsResynced, CallStatus, VoicemailReceived

ALICE = "u-alice"


def leg(
    call_id: str,
    status: CallStatus,
    *,
    caller: bool = False,
    conversation: str = "conv-1",
    number: str = "1002",
    name: str = "Bob Brown",
) -> Call:
    return Call(
        call_id=call_id,
        user_uuid=ALICE,
        status=status,
        peer_number=number,
        peer_name=name,
        is_caller=caller,
        conversation_id=conversation,
    )


def event(kind: CallEventKind, call: Call) -> CallEvent:
    return CallEvent(kind=kind, call=call)


def entries(decisions: list[object]) -> list[HistoryEntry]:
    return [d.entry for d in decisions if isinstance(d, Ended)]


def test_incoming_call_rings_then_is_missed() -> None:
    tracker = CallHistoryTracker()
    rang = tracker.apply(event(CallEventKind.CREATED, leg("c1", CallStatus.RINGING)), now=100.0)
    assert rang == [Ringing(ALICE, "conv-1", "1002", "Bob Brown")]
    # A later update of the same leg is not a second ring.
    assert tracker.apply(event(CallEventKind.UPDATED, leg("c1", CallStatus.RINGING)), now=101.0) == []
    ended = tracker.apply(event(CallEventKind.ENDED, leg("c1", CallStatus.RINGING)), now=120.0)
    assert entries(ended) == [
        HistoryEntry(ALICE, "conv-1", Direction.INCOMING, Outcome.MISSED, "1002", "Bob Brown", 100.0, 0)
    ]
    assert tracker.open_calls == 0


def test_incoming_answered_has_a_duration() -> None:
    tracker = CallHistoryTracker()
    tracker.apply(event(CallEventKind.CREATED, leg("c1", CallStatus.RINGING)), now=100.0)
    tracker.apply(event(CallEventKind.ANSWERED, leg("c1", CallStatus.UP)), now=105.0)
    (entry,) = entries(tracker.apply(event(CallEventKind.ENDED, leg("c1", CallStatus.UP)), now=170.0))
    assert (entry.outcome, entry.duration_s) == (Outcome.ANSWERED, 65)


def test_outgoing_calls_never_ring_as_incoming() -> None:
    tracker = CallHistoryTracker()
    # click-to-call: the caller's own phone rings first, but it is their outgoing call
    out = leg("c1", CallStatus.RINGING, caller=True, number="1003", name="")
    assert tracker.apply(event(CallEventKind.CREATED, out), now=10.0) == []
    (entry,) = entries(tracker.apply(event(CallEventKind.ENDED, out), now=20.0))
    assert (entry.direction, entry.outcome, entry.number) == (
        Direction.OUTGOING,
        Outcome.NOT_ANSWERED,
        "1003",
    )
    tracker.apply(
        event(CallEventKind.CREATED, leg("c2", CallStatus.PROGRESSING, caller=True, conversation="x")), 30.0
    )
    tracker.apply(
        event(CallEventKind.ANSWERED, leg("c2", CallStatus.UP, caller=True, conversation="x")), 31.0
    )
    (entry,) = entries(
        tracker.apply(event(CallEventKind.ENDED, leg("c2", CallStatus.UP, conversation="x")), 40.0)
    )
    assert (entry.direction, entry.outcome) == (Direction.OUTGOING, Outcome.ANSWERED)


def test_two_lines_ringing_answered_on_one_is_one_answered_call() -> None:
    tracker = CallHistoryTracker()
    rang = tracker.apply(event(CallEventKind.CREATED, leg("desk", CallStatus.RINGING)), now=1.0)
    rang += tracker.apply(event(CallEventKind.CREATED, leg("soft", CallStatus.RINGING)), now=1.0)
    assert len(rang) == 1  # one notice for one call
    tracker.apply(event(CallEventKind.ANSWERED, leg("desk", CallStatus.UP)), now=3.0)
    assert tracker.apply(event(CallEventKind.ENDED, leg("soft", CallStatus.RINGING)), now=3.0) == []
    (entry,) = entries(tracker.apply(event(CallEventKind.ENDED, leg("desk", CallStatus.UP)), now=9.0))
    assert entry.outcome is Outcome.ANSWERED


def test_late_events_and_resync_do_not_reopen_an_ended_call() -> None:
    tracker = CallHistoryTracker()
    tracker.apply(event(CallEventKind.CREATED, leg("c1", CallStatus.RINGING)), now=1.0)
    tracker.apply(event(CallEventKind.ENDED, leg("c1", CallStatus.RINGING)), now=2.0)
    assert tracker.apply(event(CallEventKind.UPDATED, leg("c1", CallStatus.RINGING)), now=3.0) == []
    assert tracker.apply(CallsResynced((leg("c1", CallStatus.RINGING),)), now=3.0) == []
    assert tracker.apply(event(CallEventKind.ENDED, leg("c1", CallStatus.RINGING)), now=4.0) == []
    assert tracker.open_calls == 0


def test_a_call_that_ended_while_the_stream_was_down_is_closed_by_the_resync() -> None:
    tracker = CallHistoryTracker()
    tracker.apply(event(CallEventKind.CREATED, leg("c1", CallStatus.RINGING)), now=1.0)
    (entry,) = entries(tracker.apply(CallsResynced(()), now=50.0))
    assert entry.outcome is Outcome.MISSED
    # a call found ringing in a snapshot rings (notice), and is followed from then on
    found = tracker.apply(CallsResynced((leg("c2", CallStatus.RINGING, conversation="c2"),)), now=60.0)
    assert found == [Ringing(ALICE, "c2", "1002", "Bob Brown")]


def test_a_call_seen_only_when_it_ends_is_recorded() -> None:
    tracker = CallHistoryTracker()
    (entry,) = entries(tracker.apply(event(CallEventKind.ENDED, leg("c9", CallStatus.RINGING)), now=5.0))
    assert entry.outcome is Outcome.MISSED


def voicemail(number: str, message_id: str = "m1") -> VoicemailReceived:
    return VoicemailReceived(ALICE, message_id, number, "Bob Brown", 12)


def test_voicemail_turns_the_recent_missed_call_from_that_number_into_a_voicemail() -> None:
    missed = HistoryEntry(ALICE, "conv-1", Direction.INCOMING, Outcome.MISSED, "1002", "Bob Brown", 100.0)
    other = HistoryEntry(ALICE, "conv-2", Direction.INCOMING, Outcome.MISSED, "1003", "Carol", 110.0)
    entry = match_voicemail(voicemail("1002"), [other, missed], now=140.0)
    assert (entry.key, entry.outcome, entry.started_at) == ("conv-1", Outcome.VOICEMAIL, 100.0)
    # too old, answered, or another number: a voicemail entry of its own
    assert match_voicemail(voicemail("1002"), [missed], now=100.0 + 3600).key == "vm:m1"
    answered = HistoryEntry(ALICE, "conv-3", Direction.INCOMING, Outcome.ANSWERED, "1002", "", 130.0)
    assert match_voicemail(voicemail("1002"), [answered], now=140.0).key == "vm:m1"
    alone = match_voicemail(voicemail("+33 1 23", "m2"), [missed], now=140.0)
    assert (alone.key, alone.direction, alone.outcome, alone.number) == (
        "vm:m2",
        Direction.INCOMING,
        Outcome.VOICEMAIL,
        "+33 1 23",
    )


def test_latest_caller_skips_outgoing_and_withheld() -> None:
    out = HistoryEntry(ALICE, "a", Direction.OUTGOING, Outcome.ANSWERED, "1003", "", 3.0)
    hidden = HistoryEntry(ALICE, "b", Direction.INCOMING, Outcome.MISSED, "", "", 2.0)
    bob = HistoryEntry(ALICE, "c", Direction.INCOMING, Outcome.VOICEMAIL, "1002", "Bob", 1.0)
    assert latest_caller([out, hidden, bob]) == 2
    assert latest_caller([out]) is None


def test_texts() -> None:
    assert who("Bob Martin", "1002") == "Bob Martin (1002)"
    assert who("+33123456789", "+33 1 23 45 67 89") == "+33 1 23 45 67 89"
    assert who("", "") == "an unknown caller"
    missed = HistoryEntry(ALICE, "k", Direction.INCOMING, Outcome.MISSED, "1002", "Bob", 1764770700.0)
    assert missed_call_text(missed, "Bob Martin (1002)", UTC) == "Missed call from Bob Martin (1002) at 14:05"
    assert incoming_call_text("an unknown caller") == "An unknown caller is calling"
    assert entry_label(missed, "Bob (1002)", UTC) == "Missed call from Bob (1002), 03 Dec 14:05"
    talked = HistoryEntry(ALICE, "k", Direction.OUTGOING, Outcome.ANSWERED, "1002", "", 1764770700.0, 75)
    assert entry_label(talked, "1002", UTC) == "Outgoing call to 1002, 03 Dec 14:05, 1:15"
