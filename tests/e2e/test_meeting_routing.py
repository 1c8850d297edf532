"""End to end with real servers: meetings put in Radicale by CalDAV PUT, a watcher (bob) on
Prosody, the component, and the Wazo simulator whose DND and forwards are asserted.

- a meeting (and a recurring meeting's second instance) turns alice "In a meeting" at its start
  and back at its end, by the component's timers (the calendar is read once a minute here), with
  her calls sent to voicemail (DND) meanwhile and her own routing given back after;
- alice forwarding her calls herself during the meeting keeps her forward;
- the component killed (SIGKILL) during the meeting and started after its end gives her routing
  back;
- an event moved earlier on the server takes effect at the next read.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from devservers.prosody import ProsodyServer
from devservers.radicale import SERVICE_PASSWORD as CALDAV_PASSWORD
from devservers.radicale import SERVICE_USER as CALDAV_USER
from devservers.radicale import RadicaleServer
from devservers.xmpp_client import connect_client, disconnect_client
from rules.model import CallTarget, RuleSettings, Target
from rules.reconcile import NO_RECORD
from store import Store
from tests.calendar.ics import event
from tests.e2e.test_combined_presence import ALICE_UUID, SERVICE_PASSWORD, ready
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import component_config, running_app, wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App
from xmpp_component.config import Config

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
ALICE_JID = "alice@example.test"
TO_VOICEMAIL = RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL))


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


def calendar_name(tmp_path: Path) -> str:
    """One calendar per test in the module's Radicale."""
    return "cal-" + tmp_path.name.replace("_", "-")[-40:]


def config_for(
    prosody: ProsodyServer,
    radicale: RadicaleServer,
    sim: WazoSimulator,
    store: Path,
    calendar: str,
    poll_interval: float,
) -> Config:
    return component_config(
        prosody,
        store,
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        calendar={
            "enabled": True,
            "url_template": f"{radicale.base_url}/{{localpart}}/{calendar}/",
            "username": CALDAV_USER,
            "poll_interval": poll_interval,
        },
        env={
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "PHONEPRESENCE_CALDAV_PASSWORD": CALDAV_PASSWORD,
        },
    )


def seconds_from_now(seconds: float) -> datetime:
    # iCalendar times are whole seconds: round so that the test knows the exact boundary.
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def sleep_until(when: datetime) -> None:
    """Wait for a wall-clock time (a meeting's end), not for something to happen."""
    await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


async def save_settings(store_path: Path, settings: RuleSettings) -> None:
    """alice's settings written in the store before the component starts."""
    from xmpp_component.user_settings import UserSettings

    async with Store(store_path) as store:
        user_settings = UserSettings(store)
        await user_settings.load()
        await user_settings.set_call_rules(ALICE_UUID, ALICE_JID, settings)


@asynccontextmanager
async def watching_alice(prosody: ProsodyServer, app: App | None = None) -> AsyncIterator[PresenceWatch]:
    """alice online in chat; bob subscribed to alice's phone JID, his presences recorded."""
    alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    alice.send_presence()
    bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
    clients: list[ClientXMPP] = [alice, bob]
    try:
        if app is not None:
            await wait_until(lambda: app.hub.im(ALICE_UUID).show.value == "available", 10, "alice's chat")
        watch = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        bob.send_presence()
        bob.send_presence_subscription(pto=f"alice@{prosody.component}", ptype="subscribe")
        yield watch
    finally:
        for client in clients:
            await disconnect_client(client)


def alice(sim: WazoSimulator) -> dict[str, Any]:
    user: dict[str, Any] = sim.state()["users"]["alice"]
    return user


async def test_meetings_switch_at_their_start_and_end_with_calls_to_voicemail(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    store = tmp_path / "state.sqlite"
    await save_settings(store, TO_VOICEMAIL)
    # Two instances of a recurring meeting, put in place before the component starts: with a
    # calendar read once a minute, only the component's timers can switch at these times.
    start = seconds_from_now(6)
    second = start + timedelta(seconds=8)
    length = timedelta(seconds=3)
    radicale.put_event(
        "alice",
        "standup",
        event(
            "standup",
            start,
            start + length,
            summary="Standup",
            extra="RRULE:FREQ=SECONDLY;INTERVAL=8;COUNT=2",
        ),
        calendar,
    )
    alice_phone = f"alice@{prosody.component}"
    config = config_for(prosody, radicale, sim, store, calendar, poll_interval=60.0)
    async with running_app(config) as app:
        await ready(app)
        async with watching_alice(prosody, app) as watch:
            await watch.wait_for(alice_phone, state="available")
            delays = []
            for begins in (start, second):
                mark = watch.mark()
                seen = await watch.wait_for(alice_phone, mark, state="in_a_meeting", timeout=15)
                delays.append((datetime.now(UTC) - begins).total_seconds())
                assert seen.status == "In a meeting"
                assert datetime.now(UTC) >= begins
                await wait_until(lambda: alice(sim)["dnd"], 10, "calls sent to voicemail")
                # The component's DND is not shown to watchers as alice's own Do not disturb.
                assert not any(s.state == "do_not_disturb" for s in watch.from_(alice_phone, mark))

                mark = watch.mark()
                await watch.wait_for(alice_phone, mark, state="available", timeout=15)
                delays.append((datetime.now(UTC) - (begins + length)).total_seconds())
                assert datetime.now(UTC) >= begins + length
                await wait_until(lambda: not alice(sim)["dnd"], 10, "alice's own routing back")
            # Never, not even for a moment at a meeting's end, is the component's DND shown.
            assert not any(s.state == "do_not_disturb" for s in watch.from_(alice_phone))
            # Switched by the timers, not at a read of the calendar (once a minute here).
            assert max(delays) < 30, delays
            print(f"boundary delays (s): {delays}")
            assert alice(sim)["forwards"]["unconditional"]["enabled"] is False
            uuid = alice(sim)["uuid"]
            await wait_until(lambda: app.call_rules.record(uuid) == NO_RECORD, 10, "the record dropped")
            assert await app.store.all_call_routing() == {}  # type: ignore[union-attr]


async def test_a_forward_alice_sets_during_the_meeting_is_hers_and_kept(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    store = tmp_path / "state.sqlite"
    await save_settings(store, TO_VOICEMAIL)
    start = seconds_from_now(5)
    end = start + timedelta(seconds=6)
    radicale.put_event("alice", "review", event("review", start, end), calendar)
    async with running_app(config_for(prosody, radicale, sim, store, calendar, poll_interval=60.0)) as app:
        await ready(app)
        await wait_until(lambda: alice(sim)["dnd"], 15, "calls sent to voicemail at the start")
        sim.set_forward("alice", True, "+33612345678")  # on her phone, during the meeting
        # Her forward wins: the component's DND goes (it would hide the forward), the forward stays.
        await wait_until(lambda: not alice(sim)["dnd"], 10, "the component's DND removed")
        uuid = alice(sim)["uuid"]
        await wait_until(lambda: app.call_rules.record(uuid) == NO_RECORD, 10, "nothing of ours left")
        await sleep_until(end + timedelta(seconds=1))  # the meeting ends
        await wait_until(lambda: not app.hub.calendar(ALICE_UUID).busy, 10, "the meeting over")
        assert alice(sim)["forwards"]["unconditional"] == {"enabled": True, "destination": "+33612345678"}
        assert alice(sim)["dnd"] is False


async def test_calendars_found_by_principal_discovery_count_for_meetings(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    """No URL template: the component finds alice's calendars on the server (her principal, its
    calendar home) and a meeting in her second calendar routes her calls to voicemail."""
    calendar = calendar_name(tmp_path)
    first = radicale.make_calendar("alice", calendar + "-a")
    second = radicale.make_calendar("alice", calendar + "-b")
    store = tmp_path / "state.sqlite"
    await save_settings(store, TO_VOICEMAIL)
    start = seconds_from_now(-60)
    radicale.put_event(
        "alice", "planning", event("planning", start, start + timedelta(hours=1)), calendar + "-b"
    )
    config = config_for(prosody, radicale, sim, store, calendar, poll_interval=60.0)
    config = replace(
        config,
        calendar=replace(config.calendar, url_template="", server_url=radicale.base_url + "/"),
    )
    async with running_app(config) as app:
        await ready(app)
        assert app.calendar is not None
        await wait_until(lambda: second in app.calendar.calendars(ALICE_UUID), 15, "alice's calendars found")
        assert first in app.calendar.calendars(ALICE_UUID)
        await wait_until(lambda: app.hub.calendar(ALICE_UUID).busy, 15, "alice in a meeting")
        await wait_until(lambda: alice(sim)["dnd"], 15, "calls sent to voicemail")


def write_toml(path: Path, config: Config, calendar_url: str) -> None:
    path.write_text(
        f"""[component]
jid = "{config.component.jid}"
server_port = {config.component.server_port}
reconnect_min_delay = 0.05
reconnect_max_delay = 0.5
[store]
path = "{config.store.path}"
[wazo]
enabled = true
base_url = "{config.wazo.base_url}"
username = "phonepresence"
[presence]
privilege_grace = 0.3
[calendar]
enabled = true
url_template = "{calendar_url}"
username = "{CALDAV_USER}"
poll_interval = 60.0
[logging]
level = "info"
"""
    )


async def test_killed_during_the_meeting_and_started_after_it_gives_the_routing_back(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    store = tmp_path / "state.sqlite"
    await save_settings(store, RuleSettings(meeting_calls=CallTarget(Target.NUMBER, "1003")))
    sim.set_forward("alice", False, "+4930123456")  # her own forward, disabled, with a destination
    start = seconds_from_now(4)
    end = start + timedelta(seconds=4)
    radicale.put_event("alice", "board", event("board", start, end), calendar)
    config = config_for(prosody, radicale, sim, store, calendar, poll_interval=60.0)
    toml = tmp_path / "phonepresence.toml"
    write_toml(toml, config, f"{radicale.base_url}/{{localpart}}/{calendar}/")
    process = subprocess.Popen(
        [sys.executable, "-m", "xmpp_component.cli", "run", "--config", str(toml)],
        env={
            **prosody.environment_for_component(),
            "PYTHONPATH": str(REPO),
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "PHONEPRESENCE_CALDAV_PASSWORD": CALDAV_PASSWORD,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        forwarded = {"enabled": True, "destination": "1003"}
        await wait_until(lambda: alice(sim)["forwards"]["unconditional"] == forwarded, 20, "the forward")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    assert alice(sim)["forwards"]["unconditional"] == {"enabled": True, "destination": "1003"}
    await sleep_until(end + timedelta(seconds=1))  # the meeting ends while the component is down
    async with running_app(config) as app:
        await ready(app)
        own = {"enabled": False, "destination": "+4930123456"}
        await wait_until(lambda: alice(sim)["forwards"]["unconditional"] == own, 10, "her own forward")
        uuid = alice(sim)["uuid"]
        await wait_until(lambda: app.call_rules.record(uuid) == NO_RECORD, 10, "the record dropped")
        assert alice(sim)["dnd"] is False


async def test_an_event_moved_earlier_on_the_server_takes_effect_at_the_next_read(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    store = tmp_path / "state.sqlite"
    later = seconds_from_now(3600)
    radicale.put_event("alice", "moved", event("moved", later, later + timedelta(hours=1)), calendar)
    alice_phone = f"alice@{prosody.component}"
    async with running_app(config_for(prosody, radicale, sim, store, calendar, poll_interval=1.0)) as app:
        await ready(app)
        async with watching_alice(prosody, app) as watch:
            await watch.wait_for(alice_phone, state="available")
            reads = app.calendar.polls if app.calendar else 0
            await wait_until(lambda: app.calendar is not None and app.calendar.polls > reads, 10, "a read")
            start = seconds_from_now(2)
            radicale.put_event(
                "alice", "moved", event("moved", start, start + timedelta(seconds=30)), calendar
            )
            mark = watch.mark()
            await watch.wait_for(alice_phone, mark, state="in_a_meeting", timeout=15)
            assert datetime.now(UTC) >= start


async def test_chat_dnd_and_meeting_rules_hand_over_without_overwriting_each_other(
    prosody: ProsodyServer, radicale: RadicaleServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    store = tmp_path / "state.sqlite"
    await save_settings(
        store,
        RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL), dnd_calls=CallTarget(Target.NUMBER, "1003")),
    )
    start = seconds_from_now(8)
    end = start + timedelta(seconds=6)
    radicale.put_event("alice", "sync", event("sync", start, end), calendar)
    to_carol = {"enabled": True, "destination": "1003"}
    async with running_app(config_for(prosody, radicale, sim, store, calendar, poll_interval=60.0)) as app:
        await ready(app)
        alice_chat = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        try:
            alice_chat.send_presence(pshow="dnd")  # before the meeting: the DND rule
            await wait_until(
                lambda: alice(sim)["forwards"]["unconditional"] == to_carol, 10, "calls to carol"
            )
            call = sim.ring("alice", from_number="0611223344")
            assert sim.state()["users"]["carol"]["calls"][0]["call_id"] == call["call_id"]  # carol rings
            sim.hangup(call_id=call["call_id"])

            await wait_until(lambda: app.hub.calendar(ALICE_UUID).busy, 15, "the meeting")
            assert alice(sim)["forwards"]["unconditional"] == to_carol  # DND rule still wins
            assert alice(sim)["dnd"] is False

            alice_chat.send_presence()  # available again, still in the meeting: the meeting rule
            await wait_until(lambda: alice(sim)["dnd"], 10, "calls to voicemail")
            assert alice(sim)["forwards"]["unconditional"]["enabled"] is False
            sim.ring("alice", from_number="0611223344")
            assert alice(sim)["diverted"][-1] == {"from": "0611223344", "to": "voicemail"}
            assert alice(sim)["voicemails"] == 1

            await sleep_until(end)
            await wait_until(lambda: not alice(sim)["dnd"], 10, "her own routing back")
            assert alice(sim)["forwards"]["unconditional"] == {"enabled": False, "destination": None}
        finally:
            await disconnect_client(alice_chat)


async def test_a_user_name_holding_an_encoded_path_reads_nobody_elses_calendar(
    prosody: ProsodyServer, radicale: RadicaleServer, tmp_path: Path
) -> None:
    """A Wazo e-mail such as "x%2f..%2falice@..." gives a valid chat localpart; put in url_template it
    made .../x%2f..%2falice/cal/, which Radicale decodes and resolves to alice's calendar: that user
    would have been "In a meeting" during alice's meetings. They get no calendar at all."""
    import tomllib

    from wazo_sim.config import DEMO_USERS_FILE, parse_config

    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["users"].append(
        {
            "id": 9,
            "uuid": "99999999-9999-4999-8999-999999999999",
            "firstname": "Eve",
            "lastname": "Path",
            "email": "x%2f..%2falice@example.test",
            "username": "eve",
            "password": "eve-pass",
            "exten": "1009",
            "context": "default",
            "line_id": 19,
            "line_name": "eve-desk",
        }
    )
    calendar = calendar_name(tmp_path)
    url = radicale.make_calendar("alice", calendar)
    start = seconds_from_now(-60)
    radicale.put_event("alice", "planning", event("planning", start, start + timedelta(hours=1)), calendar)
    async with WazoSimulator(parse_config(raw)) as sim:
        config = config_for(prosody, radicale, sim, tmp_path / "state.sqlite", calendar, poll_interval=60.0)
        async with running_app(config) as app:
            await ready(app)
            assert app.calendar is not None
            eve = "99999999-9999-4999-8999-999999999999"
            await wait_until(lambda: eve in app.people.by_uuid, 10, "eve mapped")
            await wait_until(lambda: app.hub.calendar(ALICE_UUID).busy, 15, "alice in a meeting")
            assert app.calendar.calendars(ALICE_UUID) == (url,)
            assert app.calendar.calendars(eve) == ()
            assert not app.hub.calendar(eve).busy
