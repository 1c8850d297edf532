"""Calendar objects (iCalendar text) → a user's busy intervals. Pure: no I/O.

What counts as busy, per occurrence of a VEVENT (recurrences expanded with
recurring-ical-events: RRULE, RDATE, EXDATE and RECURRENCE-ID overrides, in the event's own
time zone):

- STATUS CANCELLED: not busy;
- TRANSP TRANSPARENT ("show as free"): not busy (OPAQUE is the default);
- the user's own ATTENDEE PARTSTAT (matched by address): DECLINED → not busy;
  NEEDS-ACTION (not answered yet) → not busy, or a company's mass invitations would keep people
  "In a meeting" all day; TENTATIVE → busy (the user said they may go); ACCEPTED or not an
  attendee (their own event) → busy;
- all-day events (DATE start): not busy by default (holidays, "working from home" notes);
  :attr:`BusyRules.all_day_busy` changes it;
- floating times (no time zone) are read in :attr:`BusyRules.default_tz`.

Titles, descriptions, locations, other attendees and alarms are dropped when an object is parsed
(:func:`parse_object`): what is kept in memory cannot leak them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from rules.model import Interval

log = logging.getLogger(__name__)

# Properties kept from a VEVENT: only what decides when and whether the user is busy.
_KEPT = frozenset(
    {
        "UID",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "EXRULE",
        "RECURRENCE-ID",
        "SEQUENCE",
        "STATUS",
        "TRANSP",
        "ATTENDEE",
    }
)


@dataclass(frozen=True, slots=True)
class BusyRules:
    addresses: frozenset[str]  # the user's addresses, lower case, without "mailto:"
    all_day_busy: bool = False
    default_tz: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))


class MalformedObject(ValueError):
    """A calendar object that cannot be read; the message never contains the object's text."""


def _address(value: Any) -> str:
    text = str(value).strip().lower()
    return text[7:] if text.startswith("mailto:") else text


def parse_object(text: str) -> icalendar.Calendar:
    """Parse one calendar object and keep only its time zones and the busy-relevant parts of its
    events (see the module docstring). :class:`MalformedObject` if it is not iCalendar."""
    try:
        parsed = icalendar.Calendar.from_ical(text)
    except Exception as error:  # icalendar raises ValueError and others
        raise MalformedObject(type(error).__name__) from None
    if not isinstance(parsed, icalendar.Calendar):
        raise MalformedObject("not a VCALENDAR")
    kept = icalendar.Calendar()
    for component in parsed.subcomponents:
        if isinstance(component, icalendar.Timezone):
            kept.add_component(component)
        elif isinstance(component, icalendar.Event):
            event = icalendar.Event()
            for name, value in component.items():
                if name.upper() in _KEPT:
                    event.add(name, value, encode=False)
            if "DTSTART" not in event:
                raise MalformedObject("VEVENT without DTSTART")
            kept.add_component(event)
    return kept


def _aware(value: date | datetime, default_tz: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=default_tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=default_tz)


def _own_partstat(event: icalendar.Event, addresses: frozenset[str]) -> str | None:
    attendees: Any = event.get("ATTENDEE")
    if attendees is None:
        return None
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if _address(attendee) in addresses:
            params = getattr(attendee, "params", {})
            return str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def _when(event: icalendar.Event, name: str) -> date | datetime:
    value: Any = event.get(name)
    when = getattr(value, "dt", None)
    if not isinstance(when, date):
        raise MalformedObject(f"{name} is not a date or date-time")
    return when


def occurrence_is_busy(event: icalendar.Event, rules: BusyRules) -> bool:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return False
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return False
    if not isinstance(_when(event, "DTSTART"), datetime) and not rules.all_day_busy:
        return False
    return _own_partstat(event, rules.addresses) not in ("DECLINED", "NEEDS-ACTION")


def object_intervals(
    calendar: icalendar.Calendar, rules: BusyRules, start: datetime, end: datetime
) -> list[Interval]:
    """The busy occurrences of one object overlapping [start, end)."""
    try:
        occurrences = recurring_ical_events.of(calendar).between(start, end)
    except Exception as error:
        raise MalformedObject(f"cannot expand its events ({type(error).__name__})") from None
    intervals = []
    for event in occurrences:
        if not isinstance(event, icalendar.Event) or not occurrence_is_busy(event, rules):
            continue
        try:
            dtstart = _when(event, "DTSTART")
            first = _aware(dtstart, rules.default_tz)
            if "DTEND" in event:
                last = _aware(_when(event, "DTEND"), rules.default_tz)
            else:  # RFC 5545 3.6.1: a day for a DATE start, no time at all for a DATE-TIME start
                last = first + (timedelta(0) if isinstance(dtstart, datetime) else timedelta(days=1))
        except MalformedObject:
            raise
        except Exception as error:
            raise MalformedObject(f"bad DTSTART/DTEND ({type(error).__name__})") from None
        if last > first:
            intervals.append(Interval(first, last))
    return intervals


def busy_intervals(
    objects: Mapping[str, icalendar.Calendar],
    rules: BusyRules,
    start: datetime,
    end: datetime,
    user: str = "",
) -> tuple[Interval, ...]:
    """Every busy interval of the user's objects (href → parsed object) overlapping [start, end).

    An object that cannot be expanded is skipped with a log line naming its href (never its
    content); the others still count.
    """
    intervals: list[Interval] = []
    for href, calendar in objects.items():
        try:
            intervals.extend(object_intervals(calendar, rules, start, end))
        except MalformedObject as error:
            log.warning("calendar of %s: skipping %s: %s", user or "?", href, error)
    return tuple(sorted(intervals, key=lambda i: (i.start, i.end)))


def addresses_of(values: Iterable[str]) -> frozenset[str]:
    return frozenset(_address(v) for v in values if v)
