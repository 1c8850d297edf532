"""Builds small iCalendar objects for the calendar tests."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event(
    uid: str,
    start: datetime | str,
    end: datetime | str | None = None,
    *,
    summary: str = "Secret board meeting",
    extra: str = "",
    overrides: str = "",
) -> str:
    """A VCALENDAR with one VEVENT; ``start``/``end`` are UTC datetimes or raw property lines
    (e.g. ``"DTSTART;TZID=America/New_York:20261202T090000"``)."""
    start_line = start if isinstance(start, str) else f"DTSTART:{stamp(start)}"
    end_line = "" if end is None else end if isinstance(end, str) else f"DTEND:{stamp(end)}"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//phonepresence tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20261201T000000Z",
        start_line,
        end_line,
        f"SUMMARY:{summary}",
        "DESCRIPTION:Do not leak this description",
        extra,
        "END:VEVENT",
        overrides,
        "END:VCALENDAR",
    ]
    return "\r\n".join(line for line in lines if line) + "\r\n"
