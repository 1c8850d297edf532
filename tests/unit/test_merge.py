"""The merge table: one test per row, priority conflicts, and the docs staying in sync."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from presence.merge import (
    MAX_USER_TEXT,
    STATE_TABLE,
    StateRow,
    compose_status,
    merge,
    render_state_table_markdown,
)
from presence.model import (
    Activity,
    CalendarState,
    Call,
    CallStatus,
    CombinedPresence,
    ImShow,
    ImState,
    LineState,
    PhoneState,
    WazoPresenceState,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "presence-states.md"
README = Path(__file__).resolve().parents[2] / "README.md"
FREE = CalendarState(busy=False)
BUSY = CalendarState(busy=True)


def phone(
    line: LineState = LineState.AVAILABLE,
    dnd: bool = False,
    calls: tuple[Call, ...] = (),
    wazo_state: WazoPresenceState = WazoPresenceState.AVAILABLE,
) -> PhoneState:
    return PhoneState(
        user_uuid="u-alice", line_state=line, do_not_disturb=dnd, calls=calls, wazo_state=wazo_state
    )


def call(status: CallStatus, call_id: str = "c1") -> Call:
    return Call(call_id=call_id, user_uuid="u-alice", status=status)


@dataclass(frozen=True)
class Example:
    im: ImState
    phone: PhoneState | None
    calendar: CalendarState
    available: bool
    show: str | None
    status: str


# Written out by hand, independently of STATE_TABLE: a wrong table entry makes its row fail.
EXAMPLES: dict[Activity, Example] = {
    Activity.OFFLINE: Example(ImState(ImShow.OFFLINE), phone(LineState.UNAVAILABLE), FREE, False, None, ""),
    Activity.DO_NOT_DISTURB: Example(
        ImState(ImShow.AVAILABLE, "Focus time"),
        phone(dnd=True),
        FREE,
        True,
        "dnd",
        "Do not disturb — Focus time",
    ),
    Activity.RINGING: Example(
        ImState(ImShow.AVAILABLE), phone(LineState.RINGING), FREE, True, "dnd", "Ringing"
    ),
    Activity.CALLING: Example(
        ImState(ImShow.AWAY, "Back at 3"),
        phone(LineState.PROGRESSING),
        FREE,
        True,
        "dnd",
        "Calling — Back at 3",
    ),
    Activity.ON_HOLD: Example(
        ImState(ImShow.OFFLINE), phone(LineState.HOLDING), FREE, True, "dnd", "On hold"
    ),
    Activity.ON_THE_PHONE: Example(
        ImState(ImShow.CHAT, "WFH"), phone(LineState.TALKING), FREE, True, "dnd", "On the phone — WFH"
    ),
    Activity.IN_A_MEETING: Example(ImState(ImShow.AVAILABLE), phone(), BUSY, True, "dnd", "In a meeting"),
    Activity.AWAY: Example(ImState(ImShow.AWAY, "lunch"), phone(), FREE, True, "away", "lunch"),
    Activity.EXTENDED_AWAY: Example(ImState(ImShow.XA), None, FREE, True, "xa", ""),
    Activity.CHATTY: Example(ImState(ImShow.CHAT, "ask me"), phone(), FREE, True, "chat", "ask me"),
    Activity.AVAILABLE: Example(ImState(ImShow.AVAILABLE, "WFH"), phone(), FREE, True, None, "WFH"),
    Activity.REACHABLE_BY_PHONE: Example(
        ImState(ImShow.OFFLINE), phone(), FREE, True, None, "Reachable by phone"
    ),
}


def test_every_activity_has_exactly_one_row_and_one_example() -> None:
    activities = [row.activity for row in STATE_TABLE]
    assert len(activities) == len(set(activities))
    assert set(activities) == set(Activity) == set(EXAMPLES)


@pytest.mark.parametrize("row", STATE_TABLE, ids=lambda row: row.activity.value)
def test_table_row(row: StateRow) -> None:
    example = EXAMPLES[row.activity]
    # The table's own data agrees with the hand-written expectation...
    assert (row.available, row.show) == (example.available, example.show)
    # ...and the merge of a representative input lands on this row with that wire form.
    got = merge(example.im, example.phone, example.calendar)
    assert got.activity is row.activity
    assert (got.available, got.show, got.status) == (example.available, example.show, example.status)


# --- priority conflicts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("im", "ph", "cal", "expected"),
    [
        (ImState(ImShow.AVAILABLE), phone(LineState.RINGING, dnd=True), FREE, Activity.DO_NOT_DISTURB),
        (ImState(ImShow.DND), phone(LineState.TALKING), BUSY, Activity.DO_NOT_DISTURB),
        (ImState(ImShow.AVAILABLE), phone(LineState.RINGING), BUSY, Activity.RINGING),
        (ImState(ImShow.AWAY), phone(LineState.PROGRESSING), BUSY, Activity.CALLING),
        (ImState(ImShow.AVAILABLE), phone(LineState.TALKING), BUSY, Activity.ON_THE_PHONE),
        (ImState(ImShow.AWAY), phone(), BUSY, Activity.IN_A_MEETING),
        (ImState(ImShow.OFFLINE), phone(), BUSY, Activity.IN_A_MEETING),
        (ImState(ImShow.XA), phone(), FREE, Activity.EXTENDED_AWAY),
        (ImState(ImShow.AWAY), None, FREE, Activity.AWAY),
        (ImState(ImShow.AVAILABLE), None, FREE, Activity.AVAILABLE),
        (ImState(ImShow.OFFLINE), None, FREE, Activity.OFFLINE),
        # Nothing reaches the user: neither DND nor a meeting makes them available.
        (ImState(ImShow.OFFLINE), phone(LineState.UNAVAILABLE, dnd=True), BUSY, Activity.OFFLINE),
    ],
    ids=[
        "wazo-dnd-beats-ringing",
        "im-dnd-beats-talking-and-meeting",
        "ringing-beats-meeting",
        "calling-beats-meeting-and-away",
        "talking-beats-meeting",
        "meeting-beats-away",
        "meeting-beats-reachable-by-phone",
        "xa-beats-reachability",
        "away-without-phone",
        "available-without-phone",
        "nothing-known-is-offline",
        "both-gone-is-offline-even-with-dnd-and-meeting",
    ],
)
def test_priority(im: ImState, ph: PhoneState | None, cal: CalendarState, expected: Activity) -> None:
    assert merge(im, ph, cal).activity is expected


def test_calls_raise_the_line_state_before_chatd_reports_it() -> None:
    got = merge(ImState(ImShow.AVAILABLE), phone(LineState.AVAILABLE, calls=(call(CallStatus.UP),)), FREE)
    assert (got.activity, got.status, got.in_call) == (Activity.ON_THE_PHONE, "On the phone", True)
    assert dict(got.raw)["line"] == "talking"


def test_a_second_call_ringing_while_talking_shows_ringing_and_stays_in_call() -> None:
    calls = (call(CallStatus.UP, "c1"), call(CallStatus.RINGING, "c2"))
    got = merge(ImState(ImShow.AVAILABLE), phone(LineState.TALKING, calls=calls), FREE)
    assert (got.activity, got.in_call) == (Activity.RINGING, True)


@pytest.mark.parametrize(
    ("line", "in_call"),
    [
        (LineState.AVAILABLE, False),
        (LineState.RINGING, False),
        (LineState.PROGRESSING, True),
        (LineState.HOLDING, True),
        (LineState.TALKING, True),
        (LineState.UNAVAILABLE, False),
    ],
)
def test_in_call_follows_the_line(line: LineState, in_call: bool) -> None:
    assert merge(ImState(ImShow.AVAILABLE), phone(line), FREE).in_call is in_call


# While DND wins, watchers learn that the person does not want to be disturbed, and nothing
# about what they are doing: no call activity, no line state, no calendar, no call details.
DND_CASES = [
    pytest.param(ImState(ImShow.AVAILABLE), phone(line, dnd=True, calls=calls), cal, id=f"wazo-dnd-{name}")
    for name, line, calls, cal in (
        ("idle", LineState.AVAILABLE, (), FREE),
        ("ringing", LineState.RINGING, (call(CallStatus.RINGING),), FREE),
        ("calling", LineState.PROGRESSING, (call(CallStatus.PROGRESSING),), BUSY),
        ("talking", LineState.TALKING, (call(CallStatus.UP),), FREE),
        ("on-hold", LineState.HOLDING, (call(CallStatus.HELD),), BUSY),
        ("call-before-chatd", LineState.AVAILABLE, (call(CallStatus.UP),), FREE),
    )
] + [
    pytest.param(ImState(ImShow.DND, "Focus"), phone(LineState.TALKING), BUSY, id="chat-dnd-talking"),
    pytest.param(ImState(ImShow.DND), None, BUSY, id="chat-dnd-no-phone"),
    pytest.param(ImState(ImShow.DND), phone(LineState.RINGING, dnd=True), FREE, id="both-dnd-ringing"),
]


@pytest.mark.parametrize(("im", "ph", "cal"), DND_CASES)
def test_dnd_hides_every_call_detail(im: ImState, ph: PhoneState | None, cal: CalendarState) -> None:
    got = merge(im, ph, cal)
    assert got.activity is Activity.DO_NOT_DISTURB
    assert got.in_call is False  # no XEP-0108 "on the phone"
    wazo_dnd = "true" if ph is not None and ph.do_not_disturb else "false"
    assert got.raw == (("im", im.show.value), ("dnd", wazo_dnd))
    # So a call starting or ending under DND changes nothing watchers receive.
    idle = merge(im, None if ph is None else phone(dnd=ph.do_not_disturb), FREE)
    assert got == idle


@pytest.mark.parametrize(
    ("im", "line", "dnd", "busy"),
    list(itertools.product(ImShow, LineState, [False, True], [False, True])),
)
def test_invisible_in_wazo_looks_exactly_like_offline(
    im: ImShow, line: LineState, dnd: bool, busy: bool
) -> None:
    ph = phone(line, dnd=dnd, calls=(call(CallStatus.UP),), wazo_state=WazoPresenceState.INVISIBLE)
    got = merge(ImState(im, "my text"), ph, BUSY if busy else FREE)
    assert got == merge(ImState(), None, FREE)
    assert (got.activity, got.available, got.status, got.in_call) == (Activity.OFFLINE, False, "", False)


@pytest.mark.parametrize("state", [s for s in WazoPresenceState if s is not WazoPresenceState.INVISIBLE])
def test_other_wazo_app_states_change_nothing(state: WazoPresenceState) -> None:
    got = merge(ImState(ImShow.AVAILABLE), phone(LineState.TALKING, wazo_state=state), FREE)
    assert got.activity is Activity.ON_THE_PHONE


def test_dnd_set_by_the_component_for_a_meeting_shows_the_meeting() -> None:
    got = merge(ImState(ImShow.AVAILABLE), phone(dnd=True), BUSY, explicit_dnd=False)
    assert (got.activity, got.show, got.status) == (Activity.IN_A_MEETING, "dnd", "In a meeting")
    assert dict(got.raw)["dnd"] == "true"  # the raw child still says what the PBX has


def test_explicit_dnd_overrides_the_pbx_flag() -> None:
    got = merge(ImState(ImShow.AVAILABLE), phone(dnd=False), FREE, explicit_dnd=True)
    assert got.activity is Activity.DO_NOT_DISTURB


def test_raw_inputs() -> None:
    got = merge(ImState(ImShow.AWAY, "x"), phone(LineState.TALKING), BUSY)
    assert got.raw == (("line", "talking"), ("im", "away"), ("dnd", "false"), ("calendar", "busy"))
    assert merge(ImState(), None, FREE).raw == (
        ("line", "unavailable"),
        ("im", "offline"),
        ("dnd", "false"),
        ("calendar", "free"),
    )


@pytest.mark.parametrize(
    ("label", "text", "expected"),
    [
        ("On the phone", "", "On the phone"),
        ("On the phone", "   ", "On the phone"),
        ("On the phone", "WFH", "On the phone — WFH"),
        ("In a meeting", "in a meeting", "In a meeting"),
        ("", " lunch ", "lunch"),
        ("", "", ""),
    ],
)
def test_compose_status(label: str, text: str, expected: str) -> None:
    assert compose_status(label, text) == expected


# --- the whole input space against an independent statement of the priority ------------------


def oracle(im: ImShow, line: LineState, dnd: bool, busy: bool) -> Activity:
    """DESIGN.md §4 written as plain if/elif, separately from the table."""
    if im is ImShow.OFFLINE and line is LineState.UNAVAILABLE:
        return Activity.OFFLINE
    if dnd or im is ImShow.DND:
        return Activity.DO_NOT_DISTURB
    by_line = {
        LineState.RINGING: Activity.RINGING,
        LineState.PROGRESSING: Activity.CALLING,
        LineState.HOLDING: Activity.ON_HOLD,
        LineState.TALKING: Activity.ON_THE_PHONE,
    }
    if line in by_line:
        return by_line[line]
    if busy:
        return Activity.IN_A_MEETING
    by_im = {
        ImShow.AWAY: Activity.AWAY,
        ImShow.XA: Activity.EXTENDED_AWAY,
        ImShow.CHAT: Activity.CHATTY,
        ImShow.AVAILABLE: Activity.AVAILABLE,
    }
    return by_im.get(im, Activity.REACHABLE_BY_PHONE)


@pytest.mark.parametrize(
    ("im", "line", "dnd", "busy"),
    list(itertools.product(ImShow, LineState, [False, True], [False, True])),
)
def test_all_inputs_match_the_oracle(im: ImShow, line: LineState, dnd: bool, busy: bool) -> None:
    got: CombinedPresence = merge(ImState(im), phone(line, dnd=dnd), BUSY if busy else FREE)
    assert got.activity is oracle(im, line, dnd, busy)
    assert got.available is (got.activity is not Activity.OFFLINE)


# --- documentation --------------------------------------------------------------------------


def test_table_markdown_has_one_line_per_row_in_priority_order() -> None:
    lines = render_state_table_markdown().splitlines()
    assert len(lines) == 2 + len(STATE_TABLE)
    assert [line.split("|")[2].strip() for line in lines[2:]] == [row.activity.value for row in STATE_TABLE]
    assert '| on_the_phone | in a call (talking) | `dnd` | "On the phone" [— own text] |' in lines[7]


def test_docs_contain_the_generated_table() -> None:
    assert render_state_table_markdown() in DOCS.read_text(encoding="utf-8")
    assert render_state_table_markdown() in README.read_text(encoding="utf-8")


def test_a_very_long_status_text_is_cut_with_an_ellipsis() -> None:
    text = "word " * 400
    presence = merge(ImState(ImShow.AWAY, text), None, CalendarState())
    assert len(presence.status) == MAX_USER_TEXT
    assert presence.status.endswith("…")
    assert presence.status.startswith("word word")
