"""The CalDAV source against a real Radicale: the service account reads a user's calendar, only the
changes travel after the first read (sync-token), the watcher reports intervals, keeps them while
the server is down (one log line), and never logs a title."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from devservers.radicale import SERVICE_PASSWORD, SERVICE_USER, RadicaleServer
from presence.sources.calendar.caldav_reader import CalDavReader, CtagProbe, Delta, NoCalendar, href_of
from presence.sources.calendar.discovery import DiscoveryFailed, PrincipalDiscovery
from presence.sources.calendar.watcher import CalendarUser, CalendarWatcher
from rules.model import Interval
from tests.calendar.ics import event

pytestmark = pytest.mark.server

HOUR = timedelta(hours=1)


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def reader() -> CalDavReader:
    return CalDavReader(SERVICE_USER, SERVICE_PASSWORD, timeout=10)


def test_full_read_then_only_changes(radicale: RadicaleServer, reader: CalDavReader) -> None:
    url = radicale.make_calendar("alice", "sync")
    t = now_minute() + HOUR
    first = radicale.put_event("alice", "one", event("one", t, t + HOUR), "sync")
    radicale.put_event("alice", "two", event("two", t + 2 * HOUR, t + 3 * HOUR), "sync")

    full = reader.read(url, None)
    assert full.full
    assert set(full.objects) == {"/alice/sync/one.ics", "/alice/sync/two.ics"}
    assert "UID:one" in full.objects[href_of(first)]

    nothing = reader.read(url, full.token)
    assert not nothing.full
    assert (nothing.objects, nothing.deleted) == ({}, frozenset())

    radicale.put_event("alice", "one", event("one", t - HOUR, t), "sync")
    radicale.delete_event("alice", "two", "sync")
    delta = reader.read(url, nothing.token)
    assert not delta.full
    assert set(delta.objects) == {"/alice/sync/one.ics"}
    assert delta.deleted == frozenset({"/alice/sync/two.ics"})


def test_a_token_the_server_does_not_know_gives_a_full_read_and_a_real_token(
    radicale: RadicaleServer, reader: CalDavReader
) -> None:
    url = radicale.make_calendar("alice", "expired")
    t = now_minute() + HOUR
    radicale.put_event("alice", "one", event("one", t, t + HOUR), "expired")
    delta = reader.read(url, "http://radicale.org/ns/sync/forgotten")
    assert delta.full
    assert set(delta.objects) == {"/alice/expired/one.ics"}
    # The next read is incremental again: nothing changed, nothing travels.
    assert delta.token is not None
    assert not delta.token.startswith("fake-")
    again = reader.read(url, delta.token)
    assert (again.full, again.objects) == (False, {})


def test_an_event_in_new_york_time_from_the_server(radicale: RadicaleServer, reader: CalDavReader) -> None:
    from presence.sources.calendar.busy import BusyRules, busy_intervals, parse_object

    url = radicale.make_calendar("alice", "tz")
    ics = event(
        "ny", "DTSTART;TZID=America/New_York:20261202T090000", "DTEND;TZID=America/New_York:20261202T100000"
    ).replace(
        "BEGIN:VEVENT",
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n"
        "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
        "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT",
        1,
    )
    radicale.put_event("alice", "ny", ics, "tz")
    objects = {href: parse_object(text) for href, text in reader.read(url, None).objects.items()}
    day = datetime(2026, 12, 2, tzinfo=UTC)
    found = busy_intervals(objects, BusyRules(frozenset()), day, day + timedelta(days=1))
    assert found == (Interval(datetime(2026, 12, 2, 14, tzinfo=UTC), datetime(2026, 12, 2, 15, tzinfo=UTC)),)


def test_the_service_account_cannot_write(radicale: RadicaleServer) -> None:
    radicale.make_calendar("bob", "ro")
    with pytest.raises(RuntimeError, match="HTTP 403"):
        radicale.request(
            SERVICE_USER,
            "PUT",
            radicale.calendar_url("bob", "ro") + "x.ics",
            event("x", now_minute()).encode(),
        )


async def test_watcher_reports_intervals_and_keeps_them_while_the_server_is_down(
    radicale: RadicaleServer, reader: CalDavReader, caplog: pytest.LogCaptureFixture
) -> None:
    url = radicale.make_calendar("carol", "work")
    t = now_minute() + HOUR
    radicale.put_event("carol", "m1", event("m1", t, t + HOUR, summary="Layoffs planning"), "work")
    radicale.put_event(
        "carol",
        "declined",
        event(
            "declined",
            t + 2 * HOUR,
            t + 3 * HOUR,
            extra="ATTENDEE;PARTSTAT=DECLINED:mailto:carol@example.test",
        ),
        "work",
    )
    reports: list[tuple[str, tuple[Interval, ...]]] = []
    watcher = CalendarWatcher(reader.read, lambda key, found: reports.append((key, found)), interval=60)
    assert watcher.set_users([CalendarUser("carol", url, frozenset({"carol@example.test"}))]) == ["carol"]

    caplog.set_level(logging.DEBUG)
    await watcher.poll_user("carol")
    assert reports == [("carol", (Interval(t, t + HOUR),))]

    # Moved earlier on the server: the next read sees it.
    radicale.put_event("carol", "m1", event("m1", t - 30 * timedelta(minutes=1), t), "work")
    await watcher.poll_user("carol")
    assert reports[-1] == ("carol", (Interval(t - timedelta(minutes=30), t),))

    # Server down: the last intervals stay, one warning however many users and polls fail.
    watcher.set_users(
        [
            CalendarUser("carol", url, frozenset({"carol@example.test"})),
            CalendarUser("nobody", radicale.calendar_url("bob", "none"), frozenset()),
        ]
    )
    radicale.stop()
    try:
        for _ in range(2):
            await watcher.poll_user("carol")
            await watcher.poll_user("nobody")
        assert watcher.intervals("carol") == (Interval(t - timedelta(minutes=30), t),)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "unreachable" in warnings[0].getMessage()
    finally:
        radicale.start()
    await watcher.poll_user("carol")
    assert not any("readable again" in r.getMessage() for r in caplog.records)  # "nobody" not yet
    await watcher.poll_user("nobody")  # a user without a calendar: no meetings, an info line
    assert any("readable again" in r.getMessage() for r in caplog.records)
    assert any("nobody: no calendar collection" in r.getMessage() for r in caplog.records)
    assert watcher.intervals("nobody") == ()
    assert "Layoffs" not in caplog.text


async def test_watcher_spreads_polls_over_the_interval(
    radicale: RadicaleServer, reader: CalDavReader
) -> None:
    urls = {user: radicale.make_calendar(user, "spread") for user in ("alice", "bob")}
    seen: list[str] = []
    reads: list[str] = []
    two_rounds = asyncio.Event()
    loop = asyncio.get_running_loop()

    def counting_read(url: str, token: str | None):  # type: ignore[no-untyped-def]
        delta = reader.read(url, token)
        reads.append(url)
        if len(reads) == 4:
            loop.call_soon_threadsafe(two_rounds.set)
        return delta

    watcher = CalendarWatcher(counting_read, lambda key, _found: seen.append(key), interval=0.5)
    watcher.set_users([CalendarUser(u, url, frozenset()) for u, url in urls.items()])
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(two_rounds.wait(), 30)
    finally:
        task.cancel()
    assert sorted(reads[:2]) == sorted(urls.values())  # each user once per round
    assert sorted(seen) == ["alice", "bob"]  # reported once each: nothing changed afterwards


async def test_the_ctag_probe_spares_the_read_of_an_unchanged_calendar(
    radicale: RadicaleServer, reader: CalDavReader
) -> None:
    url = radicale.make_calendar("bob", "probe")
    probe = CtagProbe(SERVICE_USER, SERVICE_PASSWORD, timeout=10)
    reads: list[str | None] = []

    def counting_read(url: str, token: str | None) -> Delta:
        reads.append(token)
        return reader.read(url, token)

    found: list[tuple[Interval, ...]] = []
    watcher = CalendarWatcher(counting_read, lambda _k, f: found.append(f), 60, probe=probe.ctag)
    watcher.set_users([CalendarUser("bob", url, frozenset())])
    try:
        first = await probe.ctag(url)
        assert first == await probe.ctag(url)
        await watcher.poll_user("bob")
        await watcher.poll_user("bob")
        assert len(reads) == 1  # the second poll was the probe alone
        t = now_minute() + HOUR
        radicale.put_event("bob", "late", event("late", t, t + HOUR), "probe")
        assert await probe.ctag(url) != first
        await watcher.poll_user("bob")
        assert len(reads) == 2
        assert reads[1] is not None  # an incremental read, from the sync token
        assert found[-1] == (Interval(t, t + HOUR),)
        with pytest.raises(NoCalendar):
            await probe.ctag(radicale.calendar_url("bob", "nothing-here"))
    finally:
        await probe.close()


_TASKS_ONLY = (
    b'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
    b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:supported-calendar-component-set>'
    b'<C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>'
)
_ADDRESS_BOOK = (
    b'<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
    b'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>'
    b"<CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"
)


async def test_principal_discovery_finds_every_event_calendar_of_the_user(
    radicale: RadicaleServer, reader: CalDavReader
) -> None:
    """No URL template: the service account finds bob's principal, his calendar home and the
    calendars there that hold events (not a task list, not an address book), and the watcher
    counts the meetings of all of them."""
    work = radicale.make_calendar("bob", "disc-work")
    family = radicale.make_calendar("bob", "disc-family")
    tasks = radicale.calendar_url("bob", "disc-tasks")
    radicale.request("bob", "MKCALENDAR", tasks, _TASKS_ONLY, "application/xml")
    book = f"{radicale.base_url}/bob/disc-book/"
    radicale.request("bob", "MKCOL", book, _ADDRESS_BOOK, "application/xml")
    t = now_minute() + 30 * HOUR
    radicale.put_event("bob", "w", event("w", t, t + HOUR), "disc-work")
    radicale.put_event("bob", "f", event("f", t + 2 * HOUR, t + 3 * HOUR), "disc-family")

    discovery = PrincipalDiscovery(radicale.base_url + "/", SERVICE_USER, SERVICE_PASSWORD, timeout=10)
    found = discovery.calendars("bob")
    assert {work, family} <= set(found)
    assert tasks not in found
    assert book not in found
    assert all(url.startswith(f"{radicale.base_url}/bob/") for url in found)  # bob's only
    assert discovery.calendars("nobody-here") == ()
    # a user name (from a Wazo username or e-mail) that is a path leads to nobody else's calendars
    for name in ("x/../bob", "../bob", "bob/.", "bob\\..\\bob", "..", ".", "b%6fb"):
        with pytest.raises(DiscoveryFailed, match="not a name"):
            discovery.calendars(name)

    reports: list[tuple[Interval, ...]] = []
    watcher = CalendarWatcher(reader.read, lambda _k, f: reports.append(f), 60, discover=discovery.calendars)
    watcher.set_users([CalendarUser("bob-uuid", "", frozenset({"bob@example.test"}), principal="bob")])
    await watcher.poll_user("bob-uuid")
    assert set(watcher.calendars("bob-uuid")) == set(found)
    assert {Interval(t, t + HOUR), Interval(t + 2 * HOUR, t + 3 * HOUR)} <= set(reports[-1])

    # A calendar bob deletes: the next read finds it gone (404), discovery runs again.
    radicale.request("bob", "DELETE", family)
    await watcher.poll_user("bob-uuid")
    await watcher.poll_user("bob-uuid")
    assert family not in watcher.calendars("bob-uuid")
    assert Interval(t + 2 * HOUR, t + 3 * HOUR) not in watcher.intervals("bob-uuid")
    assert Interval(t, t + HOUR) in watcher.intervals("bob-uuid")
