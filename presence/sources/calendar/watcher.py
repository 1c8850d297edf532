"""Polls every user's calendar on an interval, the users spread evenly over it, and reports each
user's busy intervals when they change.

Per user it keeps the sync token and the parsed objects (stripped of titles and descriptions, see
:mod:`.busy`). A server that does not answer leaves the last known intervals in place: one log line
when a user's calendar becomes unreachable, one when it is back. The switch at an event's start and
end is not this module's job: the intervals reach the rules, which set a timer for the next
boundary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

import icalendar

from presence.sources.calendar.busy import BusyRules, MalformedObject, busy_intervals, parse_object
from presence.sources.calendar.caldav_reader import Delta, NoCalendar
from rules.model import Interval

log = logging.getLogger(__name__)


class _Unreadable(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error


# Occurrences are expanded from a little in the past (an event that started before the last read)
# to HORIZON ahead; re-expanded at least every RE_EXPAND even when nothing changed on the server.
PAST = timedelta(hours=12)
HORIZON = timedelta(days=2)
RE_EXPAND = timedelta(hours=6)
RE_DISCOVER = 6 * 3600.0  # s: calendars found by discovery are looked for again this often
TICK = 0.1  # s: the round's reads are started in batches this far apart at most

Fetch = Callable[[str, str | None], Delta]  # blocking: (collection URL, sync token) → changes
Probe = Callable[[str], Awaitable[str | None]]  # async: URL → its ctag (changes on any change) or None
Listener = Callable[[str, tuple[Interval, ...]], None]
Discover = Callable[[str], tuple[str, ...]]  # blocking: the user's name → their calendars' URLs


@dataclass(frozen=True, slots=True)
class CalendarUser:
    key: str  # the hub's user key
    url: str  # the calendar collection; "" when the user's calendars are found by discovery
    addresses: frozenset[str]  # the user's own addresses, to find their ATTENDEE line
    principal: str = ""  # the user's name on the CalDAV server, for discovery (url "")


@dataclass
class _Collection:
    url: str
    token: str | None = None
    ctag: str | None = None
    objects: dict[str, icalendar.Calendar] = field(default_factory=dict)
    read_once: bool = False
    missing: bool = False


@dataclass
class _State:
    user: CalendarUser
    collections: list[_Collection] = field(default_factory=list)
    intervals: tuple[Interval, ...] = ()
    expanded_at: datetime | None = None
    discovered_at: float | None = None  # monotonic; None: not (yet) found by discovery
    read_once: bool = False

    def __post_init__(self) -> None:
        if self.user.url:
            self.collections = [_Collection(self.user.url)]


class CalendarWatcher:
    def __init__(
        self,
        fetch: Fetch,
        on_change: Listener,
        interval: float,
        *,
        all_day_busy: bool = False,
        default_tz: tzinfo = UTC,
        concurrency: int = 4,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        probe: Probe | None = None,
        discover: Discover | None = None,
    ) -> None:
        self._fetch = fetch
        # A collection's ctag is one small PROPFIND on the loop; the sync REPORT (in a thread)
        # costs several times the CPU. Unchanged calendars, nearly all of them at each round,
        # are then settled by the probe alone.
        self._probe = probe
        self._discover = discover
        self._on_change = on_change
        self._interval = interval
        self._all_day_busy = all_day_busy
        self._default_tz = default_tz
        self._now = now
        self._users: dict[str, _State] = {}
        self._failing: set[str] = set()  # users whose last read failed (server down, refused...)
        self._slots = asyncio.Semaphore(concurrency)
        self.polls = 0  # reads done (for tests and figures)
        # Told of every read: (seconds, error or None); the app feeds Status and /metrics with it.
        self.on_poll: Callable[[float, str | None], None] | None = None

    @property
    def followed(self) -> int:
        """Users whose calendars are watched (one or more calendars each)."""
        return len(self._users)

    @property
    def unreadable(self) -> int:
        """Calendars whose last read failed."""
        return len(self._failing)

    def user_state(self, key: str) -> str:
        """One user's calendar in words, for the admin's Explain user."""
        state = self._users.get(key)
        if state is None:
            return "not followed"
        if key in self._failing:
            return "unreadable at the last read (last known meetings kept)"
        if not state.read_once:
            return "not read yet"
        if not state.collections or all(c.missing for c in state.collections):
            return "no calendar collection found (no meetings)"
        return f"read, {len(state.intervals)} busy periods in the next {HORIZON.days} days"

    def intervals(self, key: str) -> tuple[Interval, ...]:
        state = self._users.get(key)
        return state.intervals if state is not None else ()

    def calendars(self, key: str) -> tuple[str, ...]:
        """The collections read for the user (from the template, or found by discovery)."""
        state = self._users.get(key)
        return tuple(c.url for c in state.collections) if state is not None else ()

    def set_users(self, users: Iterable[CalendarUser]) -> list[str]:
        """The users to watch; a changed URL starts that user afresh. Users gone are dropped.
        Returns the keys of the new (or changed) users: the caller reads them at once."""
        wanted = {u.key: u for u in users}
        fresh = []
        for key in list(self._users):
            if key not in wanted:
                del self._users[key]
                self._recovered(key)
        for key, user in wanted.items():
            state = self._users.get(key)
            if state is None or state.user != user:
                self._users[key] = _State(user)
                fresh.append(key)
        return fresh

    async def poll_user(self, key: str) -> None:
        """Read one user's calendars now and report their intervals if they changed."""
        state = self._users.get(key)
        if state is None:
            return
        changed = False
        try:
            if not state.user.url and self._discovery_due(state):
                changed = await self._rediscover(state)
            for collection in state.collections:
                changed = await self._poll_collection(state, collection) or changed
        except _Unreadable as unreadable:
            self._failed(key, unreadable.error)
            return
        if self._users.get(key) is not state:
            return  # the user was removed or changed meanwhile
        if self._failing:
            self._recovered(key)
        self._expand(state, force=changed or not state.read_once)
        state.read_once = True

    def _discovery_due(self, state: _State) -> bool:
        return (
            state.discovered_at is None
            or time.monotonic() - state.discovered_at >= RE_DISCOVER
            or any(c.missing for c in state.collections)
        )

    async def _rediscover(self, state: _State) -> bool:
        """Find the user's calendars again; keeps what was read of the ones still there."""
        assert self._discover is not None, "a user without url needs a discover function"
        async with self._slots:
            try:
                urls = await asyncio.to_thread(self._discover, state.user.principal)
            except Exception as error:
                raise _Unreadable(error) from None
            finally:
                self.polls += 1
        state.discovered_at = time.monotonic()
        known = {c.url: c for c in state.collections}
        if tuple(known) == urls:
            return False
        state.collections = [known.get(url) or _Collection(url) for url in urls]
        if not urls:
            log.info(
                "calendar of %s: no calendar found for %s on the server", state.user.key, state.user.principal
            )
        return True

    async def _poll_collection(self, state: _State, collection: _Collection) -> bool:
        """One collection's changes; True when its objects changed."""
        delta: Delta | None = None  # None: unchanged since the last read (the probe says so)
        missing = False
        async with self._slots:
            started = time.perf_counter()
            try:
                ctag = await self._probe(collection.url) if self._probe is not None else None
                if ctag is None or ctag != collection.ctag or not collection.read_once:
                    delta = await asyncio.to_thread(self._fetch, collection.url, collection.token)
                    # The tag seen before the read: a change meanwhile is read at the next round.
                    collection.ctag = ctag
            except NoCalendar:
                delta, missing = Delta(None, True), True  # no calendar there: no meetings
            except Exception as error:
                self._report(started, str(error) or type(error).__name__)
                raise _Unreadable(error) from None
            finally:
                self.polls += 1
            self._report(started, None)
        if delta is None:
            # The common case, nearly every calendar at every round: nothing to parse or compare.
            return False
        if missing and not collection.missing:
            log.info("calendar of %s: no calendar collection at its URL, so no meetings", state.user.key)
        collection.missing = missing
        changed = self._absorb(state, collection, delta) or not collection.read_once
        collection.read_once = True
        return changed

    def _report(self, started: float, error: str | None) -> None:
        if self.on_poll is not None:
            self.on_poll(time.perf_counter() - started, error)

    def _failed(self, key: str, error: Exception) -> None:
        """One log line when the calendars become unreadable, however many users and polls fail;
        each user's last known intervals stay in place meanwhile."""
        if not self._failing:
            reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            log.warning(
                "calendar server unreachable (%s, reading %s's calendar); keeping the last known "
                "meetings and retrying every %.0f s",
                reason,
                key,
                self._interval,
            )
        log.debug("calendar of %s not read: %s", key, type(error).__name__)
        self._failing.add(key)

    def _recovered(self, key: str) -> None:
        if key in self._failing:
            self._failing.discard(key)
            if not self._failing:
                log.info("calendar server readable again")

    def _absorb(self, state: _State, collection: _Collection, delta: Delta) -> bool:
        collection.token = delta.token
        objects = collection.objects
        changed = False
        if delta.full:
            gone = set(objects) - set(delta.objects)
            for href in gone:
                del objects[href]
            changed = bool(gone)
        for href in delta.deleted:
            changed = objects.pop(href, None) is not None or changed
        for href, text in delta.objects.items():
            changed = True
            try:
                objects[href] = parse_object(text)
            except MalformedObject as error:
                objects.pop(href, None)
                log.warning("calendar of %s: skipping %s: %s", state.user.key, href, error)
        return changed

    def _expand(self, state: _State, force: bool) -> None:
        now = self._now()
        if not force and state.expanded_at is not None and now - state.expanded_at < RE_EXPAND:
            return
        state.expanded_at = now
        rules = BusyRules(state.user.addresses, self._all_day_busy, self._default_tz)
        if len(state.collections) == 1:
            objects: dict[str, icalendar.Calendar] = state.collections[0].objects
        else:  # hrefs are paths: no two collections share one
            objects = {h: o for c in state.collections for h, o in c.objects.items()}
        intervals = busy_intervals(objects, rules, now - PAST, now + HORIZON, state.user.key)
        if intervals != state.intervals or not state.read_once:
            state.intervals = intervals
            self._on_change(state.user.key, intervals)

    async def run(self) -> None:
        """Poll forever: each round reads every user once, the reads spread over the interval.
        (Users added meanwhile are read by the caller at once with :meth:`poll_user`.)

        The loop wakes at most every :data:`TICK` s and starts the reads then due, rather than
        sleeping once per user: with 10,000 users a minute that is 10 wake-ups a second instead of
        170, and the reads still start within a tick of their slot."""
        while True:
            started = time.monotonic()
            keys = list(self._users)
            step = self._interval / max(len(keys), 1)
            tasks = []
            index = 0
            while index < len(keys):
                now = time.monotonic()
                due = min(len(keys), int((now - started) / step) + 1)
                for key in keys[index:due]:
                    tasks.append(asyncio.create_task(self.poll_user(key)))
                index = max(index, due)
                if index < len(keys):
                    await asyncio.sleep(max(TICK, started + index * step - time.monotonic()))
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("calendar poll failed", exc_info=result)
            rest = started + self._interval - time.monotonic()
            if rest > 0:
                await asyncio.sleep(rest)
