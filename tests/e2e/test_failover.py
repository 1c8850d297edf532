"""Active/standby over a real PostgreSQL, Prosody and the Wazo simulator, with real processes:
the standby waits and says so; SIGKILL the active and the standby takes over, resyncs Wazo and
answers from the stored subscriptions; stop PostgreSQL and the active stops serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devservers.pair import Instance
from devservers.postgres import PostgresServer
from devservers.prosody import ProsodyServer
from devservers.xmpp_client import disconnect_client
from tests.e2e.test_privileged_presence import fresh_login, login, watch_phones
from tests.e2e.watch import PresenceWatch
from wazo_sim.app import WazoSimulator

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
        await asyncio.to_thread(own.stop)
        assert await instance.wait_exit(15) == 3, instance.log_tail()
        assert "lost the active lock" in instance.log.read_text()
        # No goodbye: the standby may already be serving these watchers.
        assert [s for s in watch.from_(f"alice@{prosody.component}", mark) if s.ptype == "unavailable"] == []
    finally:
        if carol is not None:
            await disconnect_client(carol)
        if instance is not None:
            instance.kill()
        own.remove()
