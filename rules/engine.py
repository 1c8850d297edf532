"""Settings + busy intervals + chat show + the user's own PBX routing + time → what to do. Pure.

Two outputs are decided here:

- the calendar flag the presence merge shows as "In a meeting" (with the time it ends);
- the call routing the PBX should have, from :data:`ROUTING_TABLE`: one row per case, in
  priority order, the first row that applies wins. The same rows render the README table
  (:func:`render_routing_table_markdown`) and drive the tests.

The decision is a function of the *current* inputs only, never of the previous decision: when the
meeting ends while the chat status is still Do not disturb, the DND rule's routing is simply what
the table gives now. So the two rules cannot overwrite each other, and once no rule applies the
result is the user's own routing, exactly. Remembering that own routing while an override is on
the PBX, and noticing the user changing it, is the reconciler's job (:mod:`rules.reconcile`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from presence.model import CalendarState, ImShow
from rules.model import CallTarget, Forward, Interval, PbxRouting, RuleSettings, Target


@dataclass(frozen=True, slots=True)
class RuleInputs:
    settings: RuleSettings
    busy: Sequence[Interval]  # the user's busy calendar intervals, in any order, may overlap
    chat: ImShow
    own: PbxRouting  # the routing the user set themselves on the PBX
    has_voicemail: bool  # the user has a voicemail box on the PBX
    now: datetime

    @property
    def in_meeting(self) -> bool:
        return any(interval.covers(self.now) for interval in self.busy)


def _routes(choice: CallTarget, has_voicemail: bool) -> bool:
    """The rule sends calls somewhere. Voicemail without a box would hang calls up: not applied."""
    if choice.target is Target.VOICEMAIL:
        return has_voicemail
    return choice.target is Target.NUMBER


def routing_for(choice: CallTarget, own: PbxRouting) -> PbxRouting:
    """The PBX routing that sends calls to ``choice``. A disabled forward keeps the user's
    destination, so the forward they find after the override is the one they had."""
    if choice.target is Target.VOICEMAIL:
        return PbxRouting(dnd=True, forward=Forward(False, own.forward.destination))
    if choice.target is Target.NUMBER:
        return PbxRouting(dnd=False, forward=Forward(True, choice.number))
    return own


@dataclass(frozen=True, slots=True)
class RoutingRow:
    name: str
    when: str  # the condition in words, for the README; `applies` is the same in code
    result: str  # what the PBX gets, in words
    applies: Callable[[RuleInputs], bool]
    routing: Callable[[RuleInputs], PbxRouting]


# Priority order: the first row whose condition holds wins.
ROUTING_TABLE: tuple[RoutingRow, ...] = (
    RoutingRow(
        "own",
        "the user set DND or an unconditional forward on the PBX themselves",
        "theirs, untouched (the user's own choice always wins)",
        lambda i: i.own.diverts,
        lambda i: i.own,
    ),
    RoutingRow(
        "dnd",
        "chat status Do not disturb, and the DND rule sends calls to voicemail (user has a box) or a number",
        "the DND rule's target (also during a meeting: the chat status is the later, explicit choice)",
        lambda i: i.chat is ImShow.DND and _routes(i.settings.dnd_calls, i.has_voicemail),
        lambda i: routing_for(i.settings.dnd_calls, i.own),
    ),
    RoutingRow(
        "meeting",
        "a busy calendar event now, and the meeting rule sends calls to voicemail (user has a box) "
        "or a number",
        "the meeting rule's target",
        lambda i: i.in_meeting and _routes(i.settings.meeting_calls, i.has_voicemail),
        lambda i: routing_for(i.settings.meeting_calls, i.own),
    ),
    RoutingRow(
        "none",
        "otherwise (no rule applies, or its target is nowhere)",
        "the user's own routing, exactly as they had it",
        lambda _i: True,
        lambda i: i.own,
    ),
)


@dataclass(frozen=True, slots=True)
class Decision:
    calendar: CalendarState  # for the presence merge
    routing: PbxRouting  # what the PBX should have
    row: str  # the ROUTING_TABLE row that decided
    next_change: datetime | None  # the next busy boundary after now; None: nothing planned

    @property
    def overrides(self) -> bool:
        """The routing is the component's doing, not the user's own."""
        return self.row in ("dnd", "meeting")


def busy_until(busy: Sequence[Interval], now: datetime) -> datetime | None:
    """The end of the busy stretch covering ``now`` (back-to-back and overlapping events join);
    None when ``now`` is free."""
    until: datetime | None = None
    for interval in sorted(busy, key=lambda i: i.start):
        if until is None:
            if interval.covers(now):
                until = interval.end
        elif interval.start <= until:
            until = max(until, interval.end)
        else:
            break
    return until


def next_boundary(busy: Sequence[Interval], now: datetime) -> datetime | None:
    """The first start or end strictly after ``now``."""
    later = [t for i in busy for t in (i.start, i.end) if t > now]
    return min(later) if later else None


def calendar_state(settings: RuleSettings, busy: Sequence[Interval], now: datetime) -> CalendarState:
    """The "In a meeting" flag: only when the user wants it shown."""
    if not settings.meeting_busy:
        return CalendarState()
    until = busy_until(busy, now)
    return CalendarState(busy=until is not None, until=until)


def select_row(inputs: RuleInputs) -> RoutingRow:
    for row in ROUTING_TABLE:
        if row.applies(inputs):
            return row
    raise AssertionError(f"no routing row for {inputs!r}")  # the last row always applies


def decide(inputs: RuleInputs) -> Decision:
    row = select_row(inputs)
    return Decision(
        calendar=calendar_state(inputs.settings, inputs.busy, inputs.now),
        routing=row.routing(inputs),
        row=row.name,
        next_change=next_boundary(inputs.busy, inputs.now),
    )


def render_routing_table_markdown() -> str:
    """The README table, generated from :data:`ROUTING_TABLE` (first matching row wins)."""
    lines = ["| # | when | calls go to |", "|---|---|---|"]
    for number, row in enumerate(ROUTING_TABLE):
        lines.append(f"| {number} | {row.when} | {row.result} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # regenerate the README table: python -m rules.engine
    print(render_routing_table_markdown(), end="")
