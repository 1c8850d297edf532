"""Calendars at scale: N users (default 10,000) with a calendar each in Radicale, read every 60 s.

Radicale runs in its own process, its storage written directly (a calendar of 3 events per user);
the component's calendar side runs in this process as in the component: the CalDAV watcher
(``presence/sources/calendar``) feeding ``CallRules`` (the rules engine, one timer per user for the
next boundary) feeding the presence hub. After the first round has read every calendar, one
steady interval is measured:

- CPU time of this process (the component's calendar side; Radicale is another process) over
  the interval, as a share of one core (target: at most 10 % on average). CPU time, not wall
  time: the figure holds on a machine shared with other work;
- calendar reads per minute (each one ctag PROPFIND; plus one sync-collection REPORT, with the
  objects' data, for a calendar whose ctag changed);
- delay from an edit on the server (an event moved to now) to the presence change
  (target: at most interval + 1 s);
- precision of boundaries: presence change time minus the event's start, for events already read
  (target: at most 1 s);
- RSS added by the N users' calendars.

    .venv/bin/python -m bench.calendar [--users 10000] [--interval 60] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.rig import machine, verdict
from devservers.radicale import SERVICE_PASSWORD, SERVICE_USER, RadicaleServer
from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.model import Activity, CombinedPresence, ImShow, ImState
from presence.sources.calendar.caldav_reader import CalDavReader, CtagProbe
from presence.sources.calendar.watcher import CalendarUser, CalendarWatcher
from store import Store
from xmpp_component.call_rules import CallRules
from xmpp_component.user_settings import UserSettings

CALENDAR = "work"
PROBES = 10  # users edited, and users with a boundary, during the measured interval


def name(index: int) -> str:
    return f"u{index:05d}"


def uuid(index: int) -> str:
    return f"uuid-{index:05d}"


def ics(uid: str, start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phonepresence bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{end.strftime(fmt)}\r\nSUMMARY:Bench meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def write_storage(root: Path, users: int, day: datetime) -> None:
    """Radicale's filesystem storage, written directly: far faster than N MKCALENDAR + PUTs."""
    base = root / "collections" / "collection-root"
    for index in range(users):
        calendar = base / name(index) / CALENDAR
        calendar.mkdir(parents=True)
        (calendar / ".Radicale.props").write_text('{"tag": "VCALENDAR"}')
        for hour in (9, 13, 16):  # three meetings tomorrow: read, expanded, no boundary today
            start = day + timedelta(days=1, hours=hour)
            uid = f"{name(index)}-m{hour}"
            (calendar / f"{uid}.ics").write_text(ics(uid, start, start + timedelta(hours=1)))


class _GcClock:
    """CPU time spent in the garbage collector while it runs (gc callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.total += time.process_time() - self._start

    def stop(self) -> float:
        gc.callbacks.remove(self._callback)
        return self.total


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    """Poll ``predicate`` twice a second until it holds or ``timeout`` s have passed."""
    for _ in range(int(timeout * 2) + 1):
        if predicate():
            return
        await asyncio.sleep(0.5)


async def bench(users: int, interval: float, profile: bool = False) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="pp-bench-calendar-"))
    probes = random.Random(7).sample(range(users), min(2 * PROBES, users))
    edited, bounded = probes[:PROBES], probes[PROBES:]
    radicale = RadicaleServer(workdir / "radicale", users={name(i): f"pw-{i}" for i in probes})
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    write_storage(workdir / "radicale", users, day)
    print(f"storage of {users} calendars written in {time.perf_counter() - t0:.1f} s", flush=True)
    radicale.start()
    server = psutil.Process(radicale.process.pid if radicale.process else 0)
    me = psutil.Process()
    try:
        persons = [Person(f"{name(i)}@example.test", uuid(i), name(i)) for i in range(users)]
        people = People(
            by_chat_jid={p.chat_jid: p for p in persons},
            by_uuid={p.wazo_uuid: p for p in persons},
            by_localpart={p.localpart: p for p in persons},
        )
        hub = PresenceHub()
        changes: dict[str, list[tuple[float, Activity]]] = {}

        def on_change(user: str, presence: CombinedPresence) -> None:
            changes.setdefault(user, []).append((time.time(), presence.activity))

        hub.add_listener(on_change)
        for index in probes:
            hub.apply_im(uuid(index), ImState(ImShow.AVAILABLE))
        store = await Store(":memory:").open()
        settings = UserSettings(store)
        await settings.load()
        rules = CallRules(hub, settings, store, lambda: people, lambda: None)
        reader = CalDavReader(SERVICE_USER, SERVICE_PASSWORD, timeout=30)
        probe = CtagProbe(SERVICE_USER, SERVICE_PASSWORD, timeout=30)
        watcher = CalendarWatcher(reader.read, rules.on_intervals, interval, probe=probe.ctag)

        rss_before = me.memory_info().rss
        watcher.set_users(
            CalendarUser(  # keyed by Wazo uuid, as in the component
                p.wazo_uuid, f"{radicale.base_url}/{p.localpart}/{CALENDAR}/", frozenset({p.chat_jid})
            )
            for p in persons
        )
        started = time.perf_counter()
        task = asyncio.create_task(watcher.run())
        await until(lambda: watcher.polls >= users, 3600)
        first_round = time.perf_counter() - started
        rss_after = me.memory_info().rss
        print(f"first round: {users} calendars read in {first_round:.1f} s", flush=True)

        # The measured interval: edits to calendars already read, and events that start in it.
        now = datetime.now(UTC)
        starts: dict[str, datetime] = {}
        for number, index in enumerate(bounded):
            # After one full round: every reader has seen the event before it starts.
            start = (now + timedelta(seconds=interval + 2 + number)).replace(microsecond=0)
            starts[uuid(index)] = start
            uid = f"{name(index)}-m9"
            await asyncio.to_thread(
                radicale.put_event, name(index), uid, ics(uid, start, start + timedelta(hours=1)), CALENDAR
            )
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        gc_time = _GcClock()
        cpu0, server_cpu0, polls0 = time.process_time(), sum(server.cpu_times()[:2]), watcher.polls
        wall0 = time.perf_counter()
        edits: dict[str, float] = {}
        for index in edited:
            await asyncio.sleep(interval * 0.5 / len(edited))
            uid = f"{name(index)}-m13"
            begin = datetime.now(UTC).replace(microsecond=0)
            edits[uuid(index)] = time.time()
            await asyncio.to_thread(
                radicale.put_event, name(index), uid, ics(uid, begin, begin + timedelta(hours=1)), CALENDAR
            )
        await asyncio.sleep(max(0.0, wall0 + interval - time.perf_counter()))
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        server_cpu = sum(server.cpu_times()[:2]) - server_cpu0
        polls = watcher.polls - polls0
        gc_seconds = gc_time.stop()
        if profiler is not None:
            profiler.stop()
            print("--- pyinstrument profile of the measured interval ---")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        # Whatever is still due (a slow round) gets one more interval before it counts as missing.
        await until(
            lambda: all(
                any(a is Activity.IN_A_MEETING for _t, a in changes.get(u, ())) for u in [*edits, *starts]
            ),
            interval + 5,
        )
        task.cancel()
        await probe.close()
        rules.close()
        await store.close()

        def first_meeting(user: str) -> float | None:
            return next((t for t, a in changes.get(user, ()) if a is Activity.IN_A_MEETING), None)

        edit_delays = [
            (seen - edits[u]) if (seen := first_meeting(u)) is not None else float("inf") for u in edits
        ]
        boundary_delays = [
            (seen - starts[u].timestamp()) if (seen := first_meeting(u)) is not None else float("inf")
            for u in starts
        ]
        figures = {
            "users": users,
            "interval_s": interval,
            "first_round_s": round(first_round, 1),
            "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
            "gc_percent_of_one_core": round(100 * gc_seconds / wall, 1),
            "radicale_cpu_percent_of_one_core": round(100 * server_cpu / wall, 1),
            "requests_per_minute": round(polls * 60 / wall),
            "edit_to_presence_s_max": round(max(edit_delays), 2),
            "edit_to_presence_s": [round(d, 2) for d in sorted(edit_delays)],
            "boundary_delay_s_max": round(max(boundary_delays), 3),
            "boundary_delay_s": [round(d, 3) for d in sorted(boundary_delays)],
            "rss_added_mib": round((rss_after - rss_before) / 2**20, 1),
        }
        print(json.dumps({"bench": "calendar", **figures}), flush=True)
        return [
            verdict(
                "calendar",
                "component CPU <= 10 % of one core (%)",
                figures["cpu_percent_of_one_core"],
                figures["cpu_percent_of_one_core"] <= 10,
            ),
            verdict(
                "calendar",
                f"edit -> presence <= interval + 1 s ({interval + 1:.0f} s)",
                figures["edit_to_presence_s_max"],
                figures["edit_to_presence_s_max"] <= interval + 1,
            ),
            verdict(
                "calendar",
                "boundary precision <= 1 s (s)",
                figures["boundary_delay_s_max"],
                0 <= figures["boundary_delay_s_max"] <= 1,
            ),
        ]
    finally:
        radicale.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the measured interval")
    parser.add_argument("--quick", action="store_true", help="300 users, 20 s (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.interval = 300, 20.0
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine()}")
    return asyncio.run(bench(args.users, args.interval, args.profile))


if __name__ == "__main__":
    main()
