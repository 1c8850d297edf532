"""Active/standby over a real PostgreSQL, Prosody and the Wazo simulator, with real processes:
the standby waits and says so; SIGKILL the active and the standby takes over, resyncs Wazo and
answers from the stored subscriptions; stop PostgreSQL and the active stops serving."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from devservers.pair import Instance
from devservers.postgres import PostgresServer
from devservers.prosody import ProsodyServer
from devservers.radicale import SERVICE_PASSWORD as CALDAV_PASSWORD
from devservers.radicale import SERVICE_USER as CALDAV_USER
from devservers.radicale import RadicaleServer
from devservers.xmpp_client import disconnect_client
from rules.model import CallTarget, RuleSettings, Target
from store.postgres import PostgresStore
from tests.calendar.ics import event
from tests.e2e.test_combined_presence import ALICE_UUID
from tests.e2e.test_meeting_routing import ALICE_JID, alice, calendar_name, seconds_from_now, sleep_until
from tests.e2e.test_privileged_presence import fresh_login, login, watch_phones
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.user_settings import UserSettings

pytestmark = pytest.mark.server

# Asserted loosely (a shared 2-core machine); bench/failover.py measures it against 5 s.
TAKEOVER_LIMIT = 15.0


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def test_the_standby_takes_over_when_the_active_is_killed(
    prosody: ProsodyServer, sim: WazoSimulator, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = await postgres.new_database()
    alice_phone = f"alice@{prosody.component}"
    first = Instance(prosody, sim, url, tmp_path, "first")
    instances = [first]
    bob = None
    try:
        await first.wait_route("/readyz", 200, "ready")
        second = Instance(prosody, sim, url, tmp_path, "second")
        instances.append(second)
        await second.wait_route("/healthz", 200, "standby")
        assert await second.get("/readyz") == (
            503,
            "not ready: standby (another instance holds the active lock)\n",
        )
        assert "phonepresence_active 0.0" in (await second.get("/metrics"))[1]
        second.process.send_signal(signal.SIGHUP)  # systemctl reload on the standby's host
        await wait_until(
            lambda: "a reload applies to the serving instance only" in second.log.read_text(), 10
        )
        await second.wait_route("/healthz", 200, "standby")  # still there, still waiting

        bob = await fresh_login(prosody, "bob")
        watch = await watch_phones(prosody, bob, "alice")  # stored by the first instance
        await watch.wait_for(alice_phone, ptype="available", state="reachable_by_phone")

        mark = watch.mark()
        killed_at = time.monotonic()
        first.kill()
        sim.ring("alice", from_number="+33123456789", from_name="Dr Who")  # while nobody serves
        await watch.wait_for(alice_phone, mark, timeout=TAKEOVER_LIMIT, state="ringing")
        print(f"\nwatcher saw the current state {time.monotonic() - killed_at:.2f} s after the SIGKILL")
        await second.wait_route("/readyz", 200, "ready")
        assert (await second.get("/healthz"))[1] == "ok\n"

        # bob logs in again: his server probes alice's phone JID, the new active answers from
        # the subscriptions the first one stored.
        await disconnect_client(bob)
        bob = await login(prosody, "bob")
        again = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        bob.send_presence()
        await again.wait_for(alice_phone, state="ringing")
        assert "unsubscribed" not in [s.ptype for s in again.from_(alice_phone)]
    finally:
        if bob is not None:
            await disconnect_client(bob)
        for instance in instances:
            instance.kill()


async def test_the_active_stops_serving_when_postgresql_stops(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    own = PostgresServer(tmp_path / "pg")  # its own server: stopping the run's would end other tests'
    own.start()
    instance = None
    carol = None
    try:
        url = await own.new_database()
        instance = Instance(prosody, sim, url, tmp_path, "lonely")
        await instance.wait_route("/readyz", 200, "ready")
        # carol: bob's roster on the shared server still holds the other test's subscription.
        carol = await fresh_login(prosody, "carol")
        watch = await watch_phones(prosody, carol, "alice")
        await watch.wait_for(f"alice@{prosody.component}", ptype="available")
        mark = watch.mark()
        stopped_at = time.monotonic()
        await asyncio.to_thread(own.stop)
        assert await instance.wait_exit(15) == 3, instance.log_tail()
        print(f"\nthe active exited {time.monotonic() - stopped_at:.2f} s after PostgreSQL was stopped")
        assert "lost the active lock" in instance.log.read_text()
        # No goodbye: the standby may already be serving these watchers.
        assert [s for s in watch.from_(f"alice@{prosody.component}", mark) if s.ptype == "unavailable"] == []
    finally:
        if carol is not None:
            await disconnect_client(carol)
        if instance is not None:
            instance.kill()
        own.remove()


async def test_the_standby_resumes_the_meeting_routing_of_the_killed_active(
    prosody: ProsodyServer,
    radicale: RadicaleServer,
    sim: WazoSimulator,
    postgres: PostgresServer,
    tmp_path: Path,
) -> None:
    url = await postgres.new_database()
    async with PostgresStore(url) as store:  # alice's rule: calls to 1003 during meetings
        settings = UserSettings(store)
        await settings.load()
        meeting_to_1003 = RuleSettings(meeting_calls=CallTarget(Target.NUMBER, "1003"))
        await settings.set_call_rules(ALICE_UUID, ALICE_JID, meeting_to_1003)
    sim.set_forward("alice", False, "+4930123456")  # her own forward, disabled, with a destination
    calendar = calendar_name(tmp_path)
    radicale.make_calendar("alice", calendar)
    start = seconds_from_now(4)
    end = start + timedelta(seconds=6)
    radicale.put_event("alice", "board", event("board", start, end), calendar)
    extra = (
        f'[calendar]\nenabled = true\nurl_template = "{radicale.base_url}/{{localpart}}/{calendar}/"\n'
        f'username = "{CALDAV_USER}"\npoll_interval = 60.0\n'
    )
    env = {"PHONEPRESENCE_CALDAV_PASSWORD": CALDAV_PASSWORD}
    first = Instance(prosody, sim, url, tmp_path, "first", extra, env)
    instances = [first]
    try:
        await first.wait_route("/readyz", 200, "ready")
        second = Instance(prosody, sim, url, tmp_path, "second", extra, env)
        instances.append(second)
        await second.wait_route("/healthz", 200, "standby")
        forwarded = {"enabled": True, "destination": "1003"}
        await wait_until(
            lambda: alice(sim)["forwards"]["unconditional"] == forwarded, 20, "the meeting's forward"
        )
        first.kill()  # during the meeting
        await second.wait_route("/readyz", 200, "ready")
        assert alice(sim)["forwards"]["unconditional"] == forwarded  # kept, not undone by the takeover
        # At the meeting's end the new active gives back her own forward: it had the record the
        # killed one stored (without it, 1003 would look like her own and stay).
        await sleep_until(end + timedelta(seconds=1))
        own = {"enabled": False, "destination": "+4930123456"}
        await wait_until(lambda: alice(sim)["forwards"]["unconditional"] == own, 15, "her own forward back")
        assert alice(sim)["dnd"] is False
    finally:
        for instance in instances:
            instance.kill()


async def test_the_active_stops_serving_when_postgresql_stops_answering(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    # A partition: the lock's connection stays open and nothing answers (no FIN, no error).
    own = PostgresServer(tmp_path / "pg")
    own.start()
    instance = None
    try:
        url = await own.new_database()
        instance = Instance(prosody, sim, url, tmp_path, "partitioned")
        await instance.wait_route("/readyz", 200, "ready")
        with own.frozen():
            frozen_at = time.monotonic()
            assert await instance.wait_exit(15) == 3, instance.log_tail()
            print(f"\nthe active exited {time.monotonic() - frozen_at:.2f} s after PostgreSQL froze")
        assert "lost the active lock" in instance.log.read_text()
    finally:
        if instance is not None:
            instance.kill()
        own.remove()
