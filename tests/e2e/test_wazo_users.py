"""Wazo's user list over time, end to end (real Prosody, slixmpp clients, the Wazo simulator).

A new hire, a departure and a changed email take effect without reconnecting anything; a bulk
import costs one read of the users; confd down at start is retried and requests meanwhile are
held, not refused; a lost call_ended is undone by the periodic reconciliation with calld.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.privacy import OwnerPrivacy
from presence.sources.wazo.confd import ConfdClient
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import ALICE_UUID, e2e_config, ready
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import running_app, wait_online, wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component.app import App

DAVE = {
    "id": 9,
    "username": "dave",
    "password": "dave-pass",
    "email": "dave@example.test",
    "exten": "1009",
    "line_id": 19,
}


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def settled(app: App) -> None:
    """Online, users read, and the event stream resynchronised: what follows is an event, not a
    side effect of start-up (the resync after connecting reads the users again)."""
    await ready(app)
    await wait_until(lambda: app.wazo is not None and app.wazo.events is not None, 10, "Wazo client")
    assert app.wazo is not None
    assert app.wazo.events is not None
    await asyncio.wait_for(app.wazo.events.synced.wait(), 10)


async def intake_provisioned(app: App) -> None:
    """The chat-side provisioning started by a read writes to the store after its grace period:
    let it finish before the app (and its store) stops."""
    task = app.intake._provisioning if app.intake is not None else None
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), 10)


async def watcher(
    prosody: ProsodyServer, user: str, domain: str | None = None
) -> tuple[ClientXMPP, PresenceWatch]:
    """A logged-in client with its roster read and initial presence sent, and what it receives."""
    if domain is None:
        client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
    else:
        client = await connect_client(f"{user}@{domain}", prosody.other_users[user], prosody.c2s_port)
    watch = PresenceWatch(client)
    await client.get_roster(timeout=5)
    client.send_presence()
    return client, watch


async def test_a_new_hire_and_a_departure_take_effect_without_a_reconnection(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    dave_phone, carol_phone = f"dave@{prosody.component}", f"carol@{prosody.component}"
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await settled(app)
        assert app.wazo is not None
        assert app.wazo.events is not None
        connections = app.wazo.events.connections
        bob, watch = await watcher(prosody, "bob")
        try:
            bob.send_presence_subscription(pto=carol_phone, ptype="subscribe")
            await watch.wait_for(carol_phone, state="reachable_by_phone")

            sim.create_user(DAVE)  # hired: confd publishes user_created
            await wait_until(lambda: "dave" in app.people.by_localpart, 10, "dave provisioned")
            bob.send_presence_subscription(pto=dave_phone, ptype="subscribe")
            await watch.wait_for(dave_phone, ptype="subscribed")
            await watch.wait_for(dave_phone, state="reachable_by_phone")

            mark = watch.mark()
            sim.delete_user("carol")  # left: confd publishes user_deleted
            await watch.wait_for(carol_phone, mark, ptype="unavailable", state="offline")
            assert "carol" not in app.people.by_localpart
            assert app.wazo.events.connections == connections  # no reconnection was needed
        finally:
            await disconnect_client(bob)


async def test_a_bulk_import_is_read_once_not_once_per_user(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await settled(app)
        for batch in range(2):  # the second batch is surely read after start-up's own reads
            reads = sim.core.user_list_reads
            for index in range(batch * 200, batch * 200 + 200):
                sim.create_user(
                    {
                        "id": 100 + index,
                        "username": f"new{index}",
                        "password": "pw",
                        "email": f"new{index}@example.test",
                        "exten": str(2000 + index),
                        "line_id": 100 + index,
                    }
                )
            expected = 203 + 200 * batch
            await wait_until(lambda: len(app.people) == expected, 10, "the 200 new users provisioned")  # noqa: B023
            # 1 read, or 2 if events kept arriving while the first ran; never one per user.
            assert sim.core.user_list_reads - reads <= 2


async def test_at_start_the_users_are_read_once(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    # At 50,000 users a second read right after the first costs seconds of a cold start: the
    # first read begins once the event stream is subscribed, so its resync needs no other.
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await settled(app)
        await asyncio.sleep(0.5)  # a second read would be asked for by the resync, at once
        assert app.users.reads == 1
        # The tenant check's two one-item pages, and the one read of every user.
        assert sim.core.user_list_reads == 2 + 1


async def test_a_user_created_while_the_stream_was_down_is_read_after_the_reconnect(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await settled(app)
        assert app.wazo is not None
        assert app.wazo.events is not None
        resyncs = app.wazo.events.resyncs
        # Published while no stream listened: no event ever tells of dave.
        sim.lose_events("user_created")
        sim.create_user(DAVE)
        await sim.drop_websockets()
        await wait_until(lambda: app.wazo.events.resyncs > resyncs, 10, "the stream resynchronised")  # type: ignore[union-attr]
        await wait_until(lambda: "dave" in app.people.by_localpart, 10, "dave read after the reconnect")


async def test_confd_down_at_start_holds_a_subscription_until_the_users_are_read(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    sim.confd_unavailable(600)
    bob, watch = await watcher(prosody, "bob")
    try:
        async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
            await wait_until(lambda: sim.core.confd_refused >= 1, 15, "a failed read of the users")
            await wait_online(app)
            assert not app.provisioned.is_set()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await wait_until(lambda: app.phone_jids is not None and app.phone_jids._held, 10, "request held")
            sim.confd_unavailable(0)  # confd is back: the next retry reads the users
            await asyncio.wait_for(app.provisioned.wait(), 90)
            seen = await watch.wait_for(alice_phone, ptype="subscribed")
            await watch.wait_for(alice_phone, state="reachable_by_phone")
            before = watch.seen[: watch.seen.index(seen)]
            assert "unsubscribed" not in [s.ptype for s in before if s.frm.split("/")[0] == alice_phone]
            await wait_until(
                lambda: bob.client_roster[alice_phone]["subscription"] in ("to", "both"), 10, "bob's roster"
            )
            await intake_provisioned(app)
    finally:
        await disconnect_client(bob)


async def test_a_restart_serves_presence_from_the_last_read_before_confd_answers(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The users read by the first run are stored; in the second, confd's list of users does not
    # come (held here): watchers get this run's phone state of the users of that copy at once,
    # while everything that acts for a user (here a chat command) waits for confd's users.
    alice_phone = f"alice@{prosody.component}"
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    bob, watch = await watcher(prosody, "bob")
    try:
        async with running_app(config) as app:
            await settled(app)
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, state="reachable_by_phone")
            assert app.store is not None
            # The copy is written last, after the read is served: wait for it, bounded.
            deadline = asyncio.get_running_loop().time() + 10
            while (ALICE_UUID, "alice@example.test") not in [
                (u, e) for u, e, _n, _d in await app.store.wazo_directory()
            ]:
                assert asyncio.get_running_loop().time() < deadline, "the read was not stored"
                await asyncio.sleep(0.01)
        confd_answers = asyncio.Event()
        list_users = ConfdClient.list_users

        async def slow_list_users(self: ConfdClient, *args: Any, **kwargs: Any) -> Any:
            await confd_answers.wait()
            return await list_users(self, *args, **kwargs)

        monkeypatch.setattr(ConfdClient, "list_users", slow_list_users)
        sim.ring("alice", from_number="0612345678")  # while no component runs
        since = len(watch.seen)
        async with running_app(config) as app:
            await watch.wait_for(alice_phone, since=since, timeout=15, state="ringing")
            assert not app.provisioned.is_set()
            reply = await Chat(bob, prosody.component).say("call 1001")
            assert reply.startswith(f"Sorry: Bob@{prosody.domain} is not provisioned"), reply
            assert len(app.people) == 0
            confd_answers.set()
            await asyncio.wait_for(app.provisioned.wait(), 30)
            assert app.people.by_uuid.keys() == app.presence_people.by_uuid.keys()
            # A user created since is in the stored copy once read.
            sim.create_user(DAVE)
            await wait_until(lambda: "dave" in app.people.by_localpart, 10, "dave read")
            assert app.store is not None
            store = app.store
            for _ in range(100):
                if "dave@example.test" in [e for _u, e, _n, _d in await store.wazo_directory()]:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("dave never reached the stored copy of Wazo's users")
            await intake_provisioned(app)
    finally:
        await disconnect_client(bob)


async def test_a_lost_user_event_is_caught_by_the_periodic_refresh(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    config = replace(config, wazo=replace(config.wazo, users_refresh_interval=0.5))
    async with running_app(config) as app:
        await settled(app)
        sim.lose_events("user_created")
        sim.create_user(DAVE)
        await wait_until(lambda: "dave" in app.people.by_localpart, 10, "dave found by the periodic read")


async def test_a_renamed_user_keeps_her_watchers_and_privacy_and_gets_new_ones(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    old_phone, new_phone = f"alice@{prosody.component}", f"alice.smith@{prosody.component}"
    mallory_jid = f"mallory@{prosody.other_domain}"
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite", allow_remote_jids=[mallory_jid])
    async with running_app(config) as app:
        await settled(app)
        bob, bob_sees = await watcher(prosody, "bob")
        carol, carol_sees = await watcher(prosody, "carol")
        mallory, mallory_sees = await watcher(prosody, "mallory", prosody.other_domain)
        try:
            bob.send_presence_subscription(pto=old_phone, ptype="subscribe")
            await bob_sees.wait_for(old_phone, state="reachable_by_phone")
            visible = frozenset({f"bob@{prosody.domain}", f"carol@{prosody.domain}"})
            await app.settings.set_privacy(ALICE_UUID, f"alice@{prosody.domain}", OwnerPrivacy(True, visible))

            sim.edit_user("alice", email=f"alice.smith@{prosody.domain}")  # confd: user_edited
            await wait_until(lambda: "alice.smith" in app.people.by_localpart, 10, "alice renamed")
            assert app.people.by_uuid[ALICE_UUID].chat_jid == f"alice.smith@{prosody.domain}"

            # bob, subscribed before, still sees her, under the name he subscribed to.
            mark = bob_sees.mark()
            call = sim.ring("alice", from_number="+33123456789")
            await bob_sees.wait_for(old_phone, mark, state="ringing")
            # A new watcher uses her new phone JID; her privacy list still applies to it.
            carol.send_presence_subscription(pto=new_phone, ptype="subscribe")
            await carol_sees.wait_for(new_phone, ptype="subscribed")
            await carol_sees.wait_for(new_phone, state="ringing")
            mallory.send_presence_subscription(pto=new_phone, ptype="subscribe")
            await mallory_sees.wait_for(new_phone, ptype="unsubscribed")
            # A stranger to the old name is not let in through it either.
            mallory.send_presence_subscription(pto=old_phone, ptype="subscribe")
            await mallory_sees.wait_for(old_phone, ptype="unsubscribed")

            mark, carol_mark = bob_sees.mark(), carol_sees.mark()
            sim.hangup(call_id=call["call_id"])
            await bob_sees.wait_for(old_phone, mark, state="reachable_by_phone")
            await carol_sees.wait_for(new_phone, carol_mark, state="reachable_by_phone")
            assert app.settings.privacy(ALICE_UUID).visible_to == visible
        finally:
            for client in (bob, carol, mallory):
                await disconnect_client(client)


async def test_a_lost_call_ended_does_not_keep_alice_on_the_phone(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    config = replace(config, wazo=replace(config.wazo, calls_reconcile_interval=0.5))
    async with running_app(config) as app:
        await settled(app)
        bob, watch = await watcher(prosody, "bob")
        try:
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, state="reachable_by_phone")
            call = sim.ring("alice", from_number="+33123456789")
            sim.answer(call_id=call["call_id"])
            await watch.wait_for(alice_phone, state="on_the_phone")
            mark = watch.mark()
            sim.lose_events("call_ended")  # chatd still says the line is free; calld's event is lost
            sim.hangup(call_id=call["call_id"])
            await watch.wait_for(alice_phone, mark, state="reachable_by_phone")
        finally:
            await disconnect_client(bob)
