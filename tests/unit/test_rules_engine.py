"""The rules engine: one example per routing row, the rules not overwriting each other, the
calendar flag and its boundaries, and the README copy of the precedence table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from presence.model import CalendarState, ImShow
from rules.engine import (
    ROUTING_TABLE,
    RuleInputs,
    busy_until,
    decide,
    next_boundary,
    render_routing_table_markdown,
)
from rules.model import (
    NOWHERE,
    USER_RINGS,
    CallTarget,
    Forward,
    Interval,
    PbxRouting,
    RuleSettings,
    Target,
)

README = Path(__file__).resolve().parents[2] / "README.md"
T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
MEETING = Interval(T0, T0 + timedelta(hours=1))
VOICEMAIL = CallTarget(Target.VOICEMAIL)
MOBILE = CallTarget(Target.NUMBER, "+33123456789")
DESK = CallTarget(Target.NUMBER, "1002")
TO_VOICEMAIL = PbxRouting(dnd=True)
TO_MOBILE = PbxRouting(forward=Forward(True, "+33123456789"))
TO_DESK = PbxRouting(forward=Forward(True, "1002"))
OWN_FORWARD = PbxRouting(forward=Forward(True, "+4930123"))


def inputs(
    meeting: CallTarget = NOWHERE,
    dnd: CallTarget = NOWHERE,
    *,
    busy: bool = False,
    chat: ImShow = ImShow.AVAILABLE,
    own: PbxRouting = USER_RINGS,
    has_voicemail: bool = True,
    show_busy: bool = True,
) -> RuleInputs:
    return RuleInputs(
        settings=RuleSettings(meeting_busy=show_busy, meeting_calls=meeting, dnd_calls=dnd),
        busy=(MEETING,) if busy else (),
        chat=chat,
        own=own,
        has_voicemail=has_voicemail,
        now=T0 + timedelta(minutes=10),
    )


# (row, inputs, expected routing), written out by hand independently of ROUTING_TABLE.
ROW_EXAMPLES = {
    "own": (inputs(VOICEMAIL, MOBILE, busy=True, chat=ImShow.DND, own=OWN_FORWARD), OWN_FORWARD),
    "dnd": (inputs(dnd=MOBILE, chat=ImShow.DND), TO_MOBILE),
    "meeting": (inputs(VOICEMAIL, busy=True), TO_VOICEMAIL),
    "none": (inputs(busy=True, chat=ImShow.DND), USER_RINGS),
}


def test_every_row_has_an_example() -> None:
    assert {row.name for row in ROUTING_TABLE} == set(ROW_EXAMPLES)


@pytest.mark.parametrize("row", [row.name for row in ROUTING_TABLE])
def test_each_row(row: str) -> None:
    given, expected = ROW_EXAMPLES[row]
    decision = decide(given)
    assert decision.row == row
    assert decision.routing == expected


@pytest.mark.parametrize(
    ("meeting", "dnd", "busy", "chat", "expected", "row"),
    [
        # Both rules active, different targets: the chat DND (explicit, later) wins.
        (VOICEMAIL, MOBILE, True, ImShow.DND, TO_MOBILE, "dnd"),
        (MOBILE, VOICEMAIL, True, ImShow.DND, TO_VOICEMAIL, "dnd"),
        # Both active, same target.
        (VOICEMAIL, VOICEMAIL, True, ImShow.DND, TO_VOICEMAIL, "dnd"),
        # DND rule set to nowhere: the meeting rule still applies during the meeting.
        (DESK, NOWHERE, True, ImShow.DND, TO_DESK, "meeting"),
        # The meeting ended, chat still DND: the DND rule's routing, not the user's own.
        (VOICEMAIL, MOBILE, False, ImShow.DND, TO_MOBILE, "dnd"),
        # DND ended, meeting still on: the meeting rule's routing.
        (VOICEMAIL, MOBILE, True, ImShow.AWAY, TO_VOICEMAIL, "meeting"),
        # Neither: own.
        (VOICEMAIL, MOBILE, False, ImShow.AWAY, USER_RINGS, "none"),
    ],
)
def test_meeting_and_dnd_rules_do_not_overwrite_each_other(
    meeting: CallTarget, dnd: CallTarget, busy: bool, chat: ImShow, expected: PbxRouting, row: str
) -> None:
    decision = decide(inputs(meeting, dnd, busy=busy, chat=chat))
    assert (decision.routing, decision.row) == (expected, row)
    assert decision.overrides is (row in ("dnd", "meeting"))


def test_the_users_own_dnd_wins_over_every_rule() -> None:
    own = PbxRouting(dnd=True)
    assert decide(inputs(MOBILE, MOBILE, busy=True, chat=ImShow.DND, own=own)).routing == own


def test_voicemail_without_a_box_is_not_applied() -> None:
    decision = decide(inputs(VOICEMAIL, busy=True, has_voicemail=False))
    assert (decision.row, decision.routing) == ("none", USER_RINGS)


def test_voicemail_keeps_the_destination_of_a_disabled_own_forward() -> None:
    own = PbxRouting(forward=Forward(False, "+4930123"))
    assert decide(inputs(VOICEMAIL, busy=True, own=own)).routing == PbxRouting(
        dnd=True, forward=Forward(False, "+4930123")
    )


def test_calendar_flag_follows_the_setting_and_the_interval() -> None:
    assert decide(inputs(busy=True)).calendar == CalendarState(busy=True, until=MEETING.end)
    assert decide(inputs(busy=True, show_busy=False)).calendar == CalendarState()
    assert decide(inputs(busy=False)).calendar == CalendarState()


def test_busy_until_joins_back_to_back_and_overlapping_events() -> None:
    a = Interval(T0, T0 + timedelta(minutes=30))
    b = Interval(T0 + timedelta(minutes=30), T0 + timedelta(minutes=45))
    c = Interval(T0 + timedelta(minutes=40), T0 + timedelta(minutes=50))
    later = Interval(T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert busy_until([later, c, a, b], T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=50)
    assert busy_until([a, later], T0 + timedelta(minutes=30)) is None  # end excluded
    assert busy_until([a], T0) == a.end  # start included


def test_next_change_is_the_next_boundary() -> None:
    a = Interval(T0 + timedelta(minutes=5), T0 + timedelta(minutes=30))
    assert next_boundary([a], T0) == a.start
    assert next_boundary([a], a.start) == a.end
    assert next_boundary([a], a.end) is None
    assert decide(inputs(busy=True)).next_change == MEETING.end


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Interval(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_a_number_goes_with_the_number_target_only() -> None:
    with pytest.raises(ValueError, match="number"):
        CallTarget(Target.VOICEMAIL, "1002")
    with pytest.raises(ValueError, match="number"):
        CallTarget(Target.NUMBER)


def test_readme_has_the_current_precedence_table() -> None:
    assert render_routing_table_markdown() in README.read_text(encoding="utf-8")
