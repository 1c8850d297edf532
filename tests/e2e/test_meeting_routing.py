"""End to end: a meeting put in Radicale makes a watcher on Prosody see "In a meeting" at its start,
the simulator's DND (calls to voicemail) is set by the component, and at the end both are undone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.prosody import ProsodyServer
from devservers.radicale import SERVICE_PASSWORD as CALDAV_PASSWORD
from devservers.radicale import SERVICE_USER as CALDAV_USER
from devservers.radicale import RadicaleServer
from devservers.xmpp_client import connect_client, disconnect_client
from rules.model import CallTarget, RuleSettings, Target
from rules.reconcile import NO_RECORD
from tests.calendar.ics import event
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import component_config, running_app, wait_until
from wazo_sim.app import WazoSimulator

pytestmark = pytest.mark.server


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def test_a_meeting_turns_alice_in_a_meeting_with_calls_to_voicemail_then_back(
    prosody: ProsodyServer,
    radicale: RadicaleServer,
    sim: WazoSimulator,
    tmp_path: Path,
) -> None:
    radicale.make_calendar("alice", "e2e")
    config = component_config(
        prosody,
        tmp_path / "state.sqlite",
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        calendar={
            "enabled": True,
            "url_template": f"{radicale.base_url}/{{localpart}}/e2e/",
            "username": CALDAV_USER,
            "poll_interval": 1.0,
        },
        env={
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
            "PHONEPRESENCE_CALDAV_PASSWORD": CALDAV_PASSWORD,
        },
    )
    alice_phone = f"alice@{prosody.component}"
    async with running_app(config) as app:
        await ready(app)
        await app.settings.set_call_rules(
            "alice@example.test", RuleSettings(meeting_calls=CallTarget(Target.VOICEMAIL))
        )
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        alice.send_presence()
        bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
        try:
            await wait_until(
                lambda: app.hub.im("alice").show.value == "available", 10, "alice's chat presence"
            )
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, state="available")

            start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)  # iCalendar: seconds
            end = start + timedelta(seconds=3)
            radicale.put_event("alice", "standup", event("standup", start, end, summary="Standup"), "e2e")
            mark = watch.mark()
            seen = await watch.wait_for(alice_phone, mark, state="in_a_meeting", timeout=15)
            assert seen.status == "In a meeting"
            assert datetime.now(UTC) >= start
            await wait_until(lambda: sim.state()["users"]["alice"]["dnd"], 10, "the DND for voicemail")
            # The component's DND is not shown as alice's own Do not disturb.
            assert not any(s.state == "do_not_disturb" for s in watch.from_(alice_phone, mark))

            mark = watch.mark()
            await watch.wait_for(alice_phone, mark, state="available", timeout=15)
            assert datetime.now(UTC) >= end
            await wait_until(lambda: not sim.state()["users"]["alice"]["dnd"], 10, "the DND restored")
            assert sim.state()["users"]["alice"]["forwards"]["unconditional"]["enabled"] is False
            alice_uuid = sim.state()["users"]["alice"]["uuid"]
            await wait_until(lambda: app.call_rules.record(alice_uuid) == NO_RECORD, 10, "the record dropped")
            assert await app.store.all_call_routing() == {}  # type: ignore[union-attr]
        finally:
            await disconnect_client(bob)
            await disconnect_client(alice)
