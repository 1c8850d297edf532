"""XEP-0356 mode on Prosody + mod_privilege: no subscription prompt, rosters filled by the component."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.e2e.watch import PresenceWatch, component_barrier
from tests.xmpp.appctl import running_app, wait_until
from wazo_sim.app import WazoSimulator

ALICE_UUID = "11111111-1111-4111-8111-111111111111"  # the simulator's alice (demo_users.toml)


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


def provisioning_running() -> bool:
    """Whether the component's chat-presence provisioning (probes, roster writes, requests) runs."""
    return any(t.get_name() == "im-provisioning" and not t.done() for t in asyncio.all_tasks())


async def test_privileges_replace_prompts_and_fill_rosters(
    prosody_privileged: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    server = prosody_privileged
    alice_phone = f"alice@{server.component}"
    config = e2e_config(server, sim, tmp_path / "state.sqlite", roster_colleagues=True, privilege_grace=5.0)
    async with running_app(config) as app:
        await ready(app)
        assert app.intake is not None
        await wait_until(lambda: app.intake.privileged_presence, 10, "XEP-0356 presence privilege")
        assert app.intake.privileged_roster
        assert app.intake.mode == "privileged"

        alice = await connect_client(f"alice@{server.domain}", server.users["alice"], server.c2s_port)
        bob = await connect_client(f"bob@{server.domain}", server.users["bob"], server.c2s_port)
        try:
            prompts: list[str] = []
            alice.client_roster.auto_authorize = None  # she would never click "approve"
            alice.add_event_handler("presence_subscribe", lambda p: prompts.append(str(p["from"])))
            await alice.get_roster(timeout=5)
            alice.send_presence(pshow="away", pstatus="lunch")

            # The component learnt alice's chat presence without any subscription from her.
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "away", 10, "alice's forwarded presence"
            )

            # bob's roster already holds alice's phone JID (written by the component): logging in
            # is enough to see her, no click anywhere.
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            assert bob.client_roster[alice_phone]["subscription"] == "both"
            assert "Phones" in bob.client_roster[alice_phone]["groups"]
            bob.send_presence()
            seen = await watch.wait_for(alice_phone, show="away", state="away")
            assert seen.status == "lunch"

            mark = watch.mark()
            sim.ring("alice", from_user="carol")
            await watch.wait_for(alice_phone, mark, show="dnd", state="ringing")

            # Subscription mode would ask at the end of the provisioning run (after the roster
            # writes): once it is over, any request is on the stream before the barrier's pongs.
            await wait_until(lambda: not provisioning_running(), 10, "the provisioning run to end")
            await component_barrier(alice, server.component)
            assert prompts == [], "no subscription prompt in privileged mode"
            assert app.store is not None
            assert await app.store.im_subscriptions() == {}, "nobody was asked"
        finally:
            await disconnect_client(alice)
            await disconnect_client(bob)
