"""Chat + phone + calendar → the one presence watchers of ``user@phone.<domain>`` see. Pure.

The rule is a table, :data:`STATE_TABLE`: one row per published state, in priority order; the
first row whose condition holds wins. The same rows render the README table
(:func:`render_state_table_markdown`) and drive the tests, so documentation, code and tests
cannot disagree.

Priority (DESIGN.md §4), after a reachability gate:

0. nobody can reach the user (no chat resource, no registered line) → unavailable. Neither a DND
   flag nor a calendar event makes a person reachable, so this is checked first. A user who chose
   *invisible* in Wazo's own apps is shown exactly as such an offline user (same stanza, no text,
   no inputs): anything else would tell watchers that they are hiding;
1. the user's explicit DND (Wazo DND service the user set, or chat show ``dnd``);
2. call activity: ringing > calling > on hold > on the phone;
3. calendar busy ("In a meeting"; the event title is never known here);
4. chat show: away, xa, chat, available;
5. phone reachability: chat offline but a line registered → available "Reachable by phone".

Privacy of DND: the rows flagged ``private`` (DND) publish only that the person does not want to
be disturbed, and why (chat ``dnd`` or the PBX flag): no call activity (``in_call`` False, so no
XEP-0108), no line state, no calendar. Otherwise watchers, or a bot reading the
``urn:phonepresence:0`` child, would still see each call come and go; and since the published
value then does not change with the line, no stanza is even sent when a call starts.

Status text: the row's label comes first, then the user's own chat status after " — " when they
have one (``On the phone — Working from home``). The label is the only thing that tells a
watcher *why* the show is ``dnd``, so it must survive a client truncating the line; the user's
text is kept because the same watchers see it in every other state anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from presence.model import (
    Activity,
    CalendarState,
    CallStatus,
    CombinedPresence,
    ImShow,
    ImState,
    LineState,
    PhoneState,
    WazoPresenceState,
    aggregate_line_states,
)

STATUS_SEPARATOR = " — "


@dataclass(frozen=True, slots=True)
class MergeInputs:
    """The normalised inputs the table's conditions look at."""

    line: LineState  # the user's line state, raised by the calls we know of (see _effective_line)
    im: ImShow
    dnd: bool  # the user's own DND on the PBX (not one the component set for a meeting)
    calendar_busy: bool
    invisible: bool = False  # the user chose "invisible" in Wazo's own apps

    @property
    def registered(self) -> bool:
        return self.line is not LineState.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class StateRow:
    """One published state: when it applies and what goes on the wire."""

    activity: Activity
    when: str  # the condition in words, for the README; `applies` is the same in code
    applies: Callable[[MergeInputs], bool]
    available: bool
    show: str | None  # RFC 6121 <show>; None: plain available (or unavailable)
    label: str  # the status text; the user's own text is appended (see module docstring)
    private: bool = False  # publish no call activity, line or calendar (see module docstring)


# Priority order: the first row whose condition holds wins.
STATE_TABLE: tuple[StateRow, ...] = (
    StateRow(
        Activity.OFFLINE,
        "chat offline and no phone line registered, or *invisible* chosen in Wazo's apps",
        lambda i: i.invisible or (i.im is ImShow.OFFLINE and not i.registered),
        available=False,
        show=None,
        label="",
    ),
    StateRow(
        Activity.DO_NOT_DISTURB,
        "DND set by the user on the PBX, or chat show `dnd`",
        lambda i: i.dnd or i.im is ImShow.DND,
        available=True,
        show="dnd",
        label="Do not disturb",
        private=True,
    ),
    StateRow(
        Activity.RINGING,
        "a line rings (incoming call)",
        lambda i: i.line is LineState.RINGING,
        available=True,
        show="dnd",
        label="Ringing",
    ),
    StateRow(
        Activity.CALLING,
        "the user dialled, the other side rings",
        lambda i: i.line is LineState.PROGRESSING,
        available=True,
        show="dnd",
        label="Calling",
    ),
    StateRow(
        Activity.ON_HOLD,
        "a call is on hold",
        lambda i: i.line is LineState.HOLDING,
        available=True,
        show="dnd",
        label="On hold",
    ),
    StateRow(
        Activity.ON_THE_PHONE,
        "in a call (talking)",
        lambda i: i.line is LineState.TALKING,
        available=True,
        show="dnd",
        label="On the phone",
    ),
    StateRow(
        Activity.IN_A_MEETING,
        "a busy calendar event now",
        lambda i: i.calendar_busy,
        available=True,
        show="dnd",
        label="In a meeting",
    ),
    StateRow(
        Activity.AWAY,
        "chat show `away`",
        lambda i: i.im is ImShow.AWAY,
        available=True,
        show="away",
        label="",
    ),
    StateRow(
        Activity.EXTENDED_AWAY,
        "chat show `xa`",
        lambda i: i.im is ImShow.XA,
        available=True,
        show="xa",
        label="",
    ),
    StateRow(
        Activity.CHATTY,
        "chat show `chat`",
        lambda i: i.im is ImShow.CHAT,
        available=True,
        show="chat",
        label="",
    ),
    StateRow(
        Activity.AVAILABLE,
        "chat available",
        lambda i: i.im is ImShow.AVAILABLE,
        available=True,
        show=None,
        label="",
    ),
    StateRow(
        Activity.REACHABLE_BY_PHONE,
        "chat offline, a phone line registered",
        lambda i: i.im is ImShow.OFFLINE and i.registered,
        available=True,
        show=None,
        label="Reachable by phone",
    ),
)

_CALL_LINE_STATE: dict[CallStatus, LineState] = {
    CallStatus.RINGING: LineState.RINGING,
    CallStatus.PROGRESSING: LineState.PROGRESSING,
    CallStatus.HELD: LineState.HOLDING,
    CallStatus.UP: LineState.TALKING,
}
_ENGAGED_LINE_STATES = frozenset({LineState.PROGRESSING, LineState.HOLDING, LineState.TALKING})
_ENGAGED_CALL_STATUSES = frozenset({CallStatus.PROGRESSING, CallStatus.HELD, CallStatus.UP})


def _effective_line(phone: PhoneState) -> LineState:
    """chatd's line state, raised by the calls calld told us about.

    The two arrive on different event streams; whichever is first should show, and chatd's own
    aggregation order (ringing > progressing > holding > talking) decides between them.
    """
    if not phone.calls:
        return phone.line_state
    return aggregate_line_states([phone.line_state, *(_CALL_LINE_STATE[c.status] for c in phone.calls)])


# One user's status text is copied to every subscriber: bound it so a pasted novel does not
# multiply into megabytes of fan-out. Clients show one line anyway.
MAX_USER_TEXT = 200


def compose_status(label: str, user_text: str) -> str:
    """The row label first, then the user's own status text (see the module docstring)."""
    user_text = user_text.strip()
    if len(user_text) > MAX_USER_TEXT:
        user_text = user_text[: MAX_USER_TEXT - 1].rstrip() + "…"
    if not label:
        return user_text
    if not user_text or user_text.casefold() == label.casefold():
        return label
    return f"{label}{STATUS_SEPARATOR}{user_text}"


def select_row(inputs: MergeInputs) -> StateRow:
    """The first row of :data:`STATE_TABLE` that applies."""
    for row in STATE_TABLE:
        if row.applies(inputs):
            return row
    # Unreachable: the last two rows and the first cover every chat show; kept as a loud guard.
    raise AssertionError(f"no presence row for {inputs!r}")


# Merged presences by their inputs (see merge): a handful of states make up nearly every change,
# so most merges are one dict lookup, and equal states share one object (the hub and the
# publisher compare presences at every change). Cleared when full: status text is user input.
_MERGED: dict[tuple[object, ...], CombinedPresence] = {}
_MERGED_MAX = 4096


def merge(
    im: ImState,
    phone: PhoneState | None,
    calendar: CalendarState,
    explicit_dnd: bool | None = None,
) -> CombinedPresence:
    """The combined presence of one user.

    ``phone`` None: no Wazo state known (treated as no registered line).
    ``explicit_dnd``: whether the PBX DND is the user's own doing. None takes
    ``phone.do_not_disturb`` at face value; the rules reconciler passes False while DND is on
    only because it forwarded calls for a meeting, so the user shows "In a meeting", not
    "Do not disturb".
    """
    invisible = phone is not None and phone.wazo_state is WazoPresenceState.INVISIBLE
    if invisible:
        # Published exactly as a user nobody can reach: no text, no inputs, nothing that differs.
        im, phone, calendar, explicit_dnd = ImState(), None, CalendarState(), None
    if phone is None:
        line, wazo_dnd, in_call = LineState.UNAVAILABLE, False, False
    else:
        line = _effective_line(phone)
        wazo_dnd = phone.do_not_disturb
        in_call = line in _ENGAGED_LINE_STATES or any(c.status in _ENGAGED_CALL_STATUSES for c in phone.calls)
    # Everything the result depends on (the rest of the inputs is not looked at).
    key = (line, im.show, im.status, wazo_dnd, explicit_dnd, calendar.busy, invisible, in_call)
    merged = _MERGED.get(key)
    if merged is None:
        inputs = MergeInputs(
            line=line,
            im=im.show,
            dnd=wazo_dnd if explicit_dnd is None else explicit_dnd,
            calendar_busy=calendar.busy,
            invisible=invisible,
        )
        merged = _combine(select_row(inputs), im, wazo_dnd, in_call, line, calendar.busy)
        if len(_MERGED) >= _MERGED_MAX:
            _MERGED.clear()
        _MERGED[key] = merged
    return merged


def _combine(
    row: StateRow, im: ImState, wazo_dnd: bool, in_call: bool, line: LineState, calendar_busy: bool
) -> CombinedPresence:
    dnd_raw = ("dnd", "true" if wazo_dnd else "false")
    if row.private:
        return CombinedPresence(
            activity=row.activity,
            available=row.available,
            show=row.show,
            status=compose_status(row.label, im.status),
            raw=(("im", im.show.value), dnd_raw),
        )
    return CombinedPresence(
        activity=row.activity,
        available=row.available,
        show=row.show,
        status=compose_status(row.label, im.status),
        in_call=in_call,
        raw=(
            ("line", line.value),
            ("im", im.show.value),
            dnd_raw,
            ("calendar", "busy" if calendar_busy else "free"),
        ),
    )


def _show_cell(row: StateRow) -> str:
    if not row.available:
        return "type=`unavailable`"
    return f"`{row.show}`" if row.show else "(none: available)"


def _status_cell(row: StateRow) -> str:
    # Every row appends the user's own chat status text (compose_status), so say it once per cell.
    return f'"{row.label}" [— own text]' if row.label else "[own text]"


def render_state_table_markdown() -> str:
    """The README table, generated from :data:`STATE_TABLE` (first matching row wins)."""
    lines = [
        "| # | state | when | `<show>` | `<status>` |",
        "|---|---|---|---|---|",
    ]
    for number, row in enumerate(STATE_TABLE):
        lines.append(
            f"| {number} | {row.activity.value} | {row.when} | {_show_cell(row)} | {_status_cell(row)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # regenerate the docs table: python -m presence.merge
    print(render_state_table_markdown(), end="")
