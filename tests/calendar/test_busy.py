"""What counts as busy, on iCalendar text (no server): status, transparency, the user's own
answer, all-day events, recurrences, time zones, malformed objects, and no title kept."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from presence.sources.calendar.busy import (
    BusyRules,
    MalformedObject,
    busy_intervals,
    parse_object,
)
from rules.model import Interval
from tests.calendar.ics import event

T = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
RULES = BusyRules(frozenset({"alice@example.test"}))


def intervals(*texts: str, rules: BusyRules = RULES) -> tuple[Interval, ...]:
    objects = {f"/alice/work/{n}.ics": parse_object(t) for n, t in enumerate(texts)}
    return busy_intervals(objects, rules, T - timedelta(days=1), T + timedelta(days=5), "alice")


def attendee(partstat: str, who: str = "alice@example.test") -> str:
    return f"ATTENDEE;PARTSTAT={partstat};CN=Alice:mailto:{who}"


def test_a_plain_event_is_busy() -> None:
    assert intervals(event("a", T, T + HOUR)) == (Interval(T, T + HOUR),)


@pytest.mark.parametrize(
    ("extra", "busy"),
    [
        ("STATUS:CANCELLED", False),
        ("STATUS:TENTATIVE", True),
        ("STATUS:CONFIRMED", True),
        ("TRANSP:TRANSPARENT", False),
        ("TRANSP:OPAQUE", True),
        (attendee("DECLINED"), False),
        (attendee("NEEDS-ACTION"), False),
        (attendee("TENTATIVE"), True),
        (attendee("ACCEPTED"), True),
        (attendee("DECLINED", "bob@example.test"), True),  # someone else declined
        ("ATTENDEE;CN=Alice:MAILTO:Alice@Example.test", False),  # no PARTSTAT = NEEDS-ACTION
    ],
)
def test_busy_rules(extra: str, busy: bool) -> None:
    assert bool(intervals(event("a", T, T + HOUR, extra=extra))) is busy


def test_all_day_events_are_not_busy_by_default() -> None:
    all_day = event("a", "DTSTART;VALUE=DATE:20261202", "DTEND;VALUE=DATE:20261203")
    assert intervals(all_day) == ()
    busy = intervals(all_day, rules=BusyRules(RULES.addresses, all_day_busy=True))
    assert busy == (Interval(datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),)


def test_recurrences_rrule_exdate_rdate_and_an_overridden_instance() -> None:
    text = event(
        "weekly",
        T,
        T + HOUR,
        extra=f"RRULE:FREQ=DAILY;COUNT=4\r\nEXDATE:{(T + timedelta(days=1)).strftime('%Y%m%dT%H%M%SZ')}\r\n"
        f"RDATE:{(T + timedelta(days=4, hours=2)).strftime('%Y%m%dT%H%M%SZ')}",
        overrides="\r\n".join(
            [
                "BEGIN:VEVENT",
                "UID:weekly",
                "DTSTAMP:20261201T000000Z",
                f"RECURRENCE-ID:{(T + timedelta(days=2)).strftime('%Y%m%dT%H%M%SZ')}",
                f"DTSTART:{(T + timedelta(days=2, hours=3)).strftime('%Y%m%dT%H%M%SZ')}",
                f"DTEND:{(T + timedelta(days=2, hours=4)).strftime('%Y%m%dT%H%M%SZ')}",
                "SUMMARY:moved",
                "END:VEVENT",
            ]
        ),
    )
    starts = [i.start for i in intervals(text)]
    assert starts == [
        T,
        T + timedelta(days=2, hours=3),  # the moved instance, at its new time
        T + timedelta(days=3),
        T + timedelta(days=4, hours=2),  # the RDATE
    ]


def test_a_cancelled_instance_of_a_series_is_not_busy() -> None:
    text = event(
        "s",
        T,
        T + HOUR,
        extra="RRULE:FREQ=DAILY;COUNT=2",
        overrides="\r\n".join(
            [
                "BEGIN:VEVENT",
                "UID:s",
                f"RECURRENCE-ID:{(T + timedelta(days=1)).strftime('%Y%m%dT%H%M%SZ')}",
                f"DTSTART:{(T + timedelta(days=1)).strftime('%Y%m%dT%H%M%SZ')}",
                f"DTEND:{(T + timedelta(days=1, hours=1)).strftime('%Y%m%dT%H%M%SZ')}",
                "STATUS:CANCELLED",
                "END:VEVENT",
            ]
        ),
    )
    assert [i.start for i in intervals(text)] == [T]


def test_an_event_in_new_york_time() -> None:
    text = event(
        "ny", "DTSTART;TZID=America/New_York:20261202T090000", "DTEND;TZID=America/New_York:20261202T100000"
    )
    (interval,) = intervals(text)
    assert interval.start == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 9:00 EST = 14:00 UTC
    assert interval.end - interval.start == HOUR


def test_floating_times_use_the_configured_zone() -> None:
    text = event("f", "DTSTART:20261202T090000", "DTEND:20261202T100000")
    paris = BusyRules(RULES.addresses, default_tz=ZoneInfo("Europe/Paris"))
    (interval,) = intervals(text, rules=paris)
    assert interval.start == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_a_date_time_start_without_end_takes_no_time() -> None:
    assert intervals(event("p", T)) == ()


def test_titles_descriptions_and_other_attendees_are_not_kept() -> None:
    text = event(
        "a",
        T,
        T + HOUR,
        extra=attendee("ACCEPTED") + "\r\nLOCATION:Room 12\r\n" + attendee("ACCEPTED", "bob@x"),
    )
    kept = parse_object(text).to_ical().decode()
    assert "Secret" not in kept
    assert "leak" not in kept
    assert "Room 12" not in kept
    assert "DTSTART" in kept


def test_malformed_objects(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(MalformedObject):
        parse_object("this is not a calendar")
    with pytest.raises(MalformedObject):
        parse_object("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    # An object that parses but cannot be expanded is skipped with its href; the others count.
    bad = parse_object(event("bad", "DTSTART:garbage", "DTEND:garbage", summary="Secret plan"))
    good = parse_object(event("good", T, T + HOUR))
    with caplog.at_level(logging.WARNING):
        found = busy_intervals(
            {"/alice/work/bad.ics": bad, "/alice/work/good.ics": good},
            RULES,
            T - HOUR,
            T + timedelta(days=1),
            "alice",
        )
    assert found == (Interval(T, T + HOUR),)
    assert "/alice/work/bad.ics" in caplog.text
    assert "Secret" not in caplog.text


async def test_watcher_skips_a_malformed_object_naming_its_href(caplog: pytest.LogCaptureFixture) -> None:
    """Radicale itself refuses a malformed object at PUT and skips broken files, so a server that
    hands one out is stood in for by a reader returning it."""
    from presence.sources.calendar.caldav_reader import Delta
    from presence.sources.calendar.watcher import CalendarUser, CalendarWatcher

    good = event("good", T, T + HOUR)
    delta = Delta(
        "token-1",
        True,
        {
            "/alice/work/bad.ics": "BEGIN:VCALENDAR\r\nSUMMARY:Secret plan\r\nBROKEN",
            "/alice/work/good.ics": good,
        },
    )
    reports: list[tuple[Interval, ...]] = []
    watcher = CalendarWatcher(
        lambda _url, _token: delta, lambda _key, found: reports.append(found), 60, now=lambda: T
    )
    watcher.set_users([CalendarUser("alice", "http://dav/alice/work/", RULES.addresses)])
    with caplog.at_level(logging.WARNING):
        await watcher.poll_user("alice")
    assert reports == [(Interval(T, T + HOUR),)]
    assert "/alice/work/bad.ics" in caplog.text
    assert "Secret" not in caplog.text
