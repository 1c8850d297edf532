"""`[wazo] enabled = false`: what the component does then, as the README and its log line say.

Users come only from Wazo, so without it nobody has a phone JID: subscriptions are refused, no
chat presence is followed, commands say "not provisioned". Subscriptions stored by an earlier
run are kept, and their watchers see the phone JIDs offline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.e2e.watch import PresenceWatch, component_barrier
from tests.xmpp.appctl import component_config, running_app, wait_online, watchers_of
from wazo_sim.app import WazoSimulator


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def test_without_wazo_nobody_has_a_phone_jid_and_stored_watchers_see_offline(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice_phone = f"alice@{prosody.component}"
    store = tmp_path / "state.sqlite"
    bob_jid, carol_jid = f"bob@{prosody.domain}", f"carol@{prosody.domain}"
    bob = await connect_client(bob_jid, prosody.users["bob"], prosody.c2s_port)
    try:
        watch = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        bob.send_presence()
        # An earlier run with Wazo: bob watches alice's phone.
        async with running_app(e2e_config(prosody, sim, store)) as app:
            await ready(app)
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="available")
        # That run's goodbye went through the server before its stream closed.
        await bob.plugin["xep_0199"].ping(prosody.domain, timeout=10)
        mark = watch.mark()

        with caplog.at_level("INFO"):
            async with running_app(component_config(prosody, store)) as app:
                await wait_online(app)
                assert len(app.people) == 0
                # bob's subscription is kept and he is told alice's phone JID is offline.
                await watch.wait_for(alice_phone, mark, ptype="unavailable", state="offline")
                assert app.subscriptions is not None
                assert watchers_of(app, "alice") == {bob_jid}

                carol = await connect_client(carol_jid, prosody.users["carol"], prosody.c2s_port)
                try:
                    carol_watch = PresenceWatch(carol)
                    await carol.get_roster(timeout=5)
                    if alice_phone in carol.client_roster:  # left by another test on this server
                        await carol.del_roster_item(alice_phone)
                    carol.send_presence()
                    carol.send_presence_subscription(pto=alice_phone, ptype="subscribe")
                    await carol_watch.wait_for(alice_phone, ptype="unsubscribed")
                    assert watchers_of(app, "alice") == {bob_jid}

                    # Her chat presence, even sent straight to the component, is not followed.
                    carol.send_presence(pto=prosody.component, pshow="away")
                    chat = Chat(carol, prosody.component)
                    assert (
                        (await chat.say("call bob"))
                        .lower()
                        .startswith(f"sorry: {carol_jid} is not provisioned")
                    )
                    assert "Calls are not available" in await chat.say("help")
                    await component_barrier(carol, prosody.component)
                    assert app.hub.im("carol").show.value == "offline"
                finally:
                    await disconnect_client(carol)
                await component_barrier(bob, prosody.component)
                assert [s.ptype for s in watch.from_(alice_phone, mark)] == ["unavailable"]
    finally:
        await disconnect_client(bob)
    assert "Wazo is disabled in the configuration" in caplog.text
    assert f"chat user {carol_jid} has no Wazo user" in caplog.text
