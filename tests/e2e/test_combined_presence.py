"""Combined presence end to end: real Prosody and ejabberd, real slixmpp clients, the Wazo simulator.

Subscription mode (no server privileges): bob watches alice@phone; the simulator rings alice;
bob's client sees each state; alice's own chat state, a dropped client, a component restart
and a stranger's request are all checked over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devservers.ejabberd import EjabberdServer
from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.e2e.watch import PresenceWatch, component_barrier, remove_watched_contact
from tests.xmpp.appctl import component_config, running_app, wait_online, wait_until
from wazo_sim.app import WazoSimulator
from xmpp_component import publisher as publisher_module
from xmpp_component.app import App
from xmpp_component.config import Config

# The simulator's users (wazo_sim/demo_users.toml).
ALICE_UUID = "11111111-1111-4111-8111-111111111111"
BOB_UUID = "22222222-2222-4222-8222-222222222222"
CAROL_UUID = "33333333-3333-4333-8333-333333333333"

SERVICE_PASSWORD = "phonepresence-pass"  # the simulator's demo service account


def e2e_config(
    server: ProsodyServer | EjabberdServer, sim: WazoSimulator, store: Path, **presence: object
) -> Config:
    """The component against ``server`` with Wazo enabled on the simulator's service account."""
    return component_config(
        server,
        store,
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3, **presence},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    )


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def ready(app: App) -> None:
    await wait_online(app)
    await asyncio.wait_for(app.provisioned.wait(), 10)


async def test_bob_follows_alice_through_a_call_dnd_a_drop_and_a_restart(
    xmpp_server: ProsodyServer | EjabberdServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    prosody = xmpp_server  # Prosody, then ejabberd 23.01 (both in subscription mode)
    alice_phone = f"alice@{prosody.component}"
    store = tmp_path / "state.sqlite"
    async with running_app(e2e_config(prosody, sim, store)) as app:
        await ready(app)
        # alice's client approves the component's subscription request (slixmpp auto-authorizes).
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        alice.send_presence()  # initial presence: the server now delivers the component's request
        bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
        try:
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "available", 10, "alice's chat presence"
            )
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)  # like every real client: roster first, then presence
            bob.send_presence()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="subscribed")
            await watch.wait_for(alice_phone, ptype="available", show="", state="available")

            mark = watch.mark()
            call = sim.ring("alice", from_number="+33123456789", from_name="Dr Who")
            await watch.wait_for(alice_phone, mark, show="dnd", state="ringing", status="Ringing")
            sim.answer(call_id=call["call_id"])
            await watch.wait_for(alice_phone, mark, show="dnd", state="on_the_phone", status="On the phone")
            sim.hold(call["call_id"])
            await watch.wait_for(alice_phone, mark, show="dnd", state="on_hold")
            sim.hangup(user="alice")
            await watch.wait_for(alice_phone, mark, ptype="available", show="", state="available")

            mark = watch.mark()
            alice.send_presence(pshow="dnd", pstatus="Writing the report")
            seen = await watch.wait_for(alice_phone, mark, show="dnd", state="do_not_disturb")
            assert seen.status == "Do not disturb — Writing the report"

            # alice's client vanishes without unavailable: the server tells the component,
            # and bob sees the phone-only state.
            mark = watch.mark()
            alice.abort()
            seen = await watch.wait_for(alice_phone, mark, state="reachable_by_phone")
            assert (seen.ptype, seen.show, seen.status) == ("available", "", "Reachable by phone")

            # No presence is ever sent twice in a row with the same content (a late duplicate
            # would arrive before the barrier's pongs).
            await component_barrier(bob, prosody.component)
            states = [(s.ptype, s.show, s.status, s.state) for s in watch.from_(alice_phone)]
            assert all(a != b for a, b in itertools.pairwise(states)), states
        finally:
            await disconnect_client(bob)

    # The component restarts: bob's subscription survives, and a re-login probe is answered
    # with the right presence, not with "unsubscribed".
    sim.set_registered("alice", False)
    async with running_app(e2e_config(prosody, sim, store)) as app:
        await ready(app)
        bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
        try:
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()  # initial presence: Prosody probes bob's contacts now
            seen = await watch.wait_for(alice_phone, ptype="unavailable", state="offline")
            await component_barrier(bob, prosody.component)
            assert "unsubscribed" not in [s.ptype for s in watch.from_(alice_phone)]
            mark = watch.mark()
            sim.set_registered("alice", True)
            await watch.wait_for(alice_phone, mark, state="reachable_by_phone")
            assert bob.client_roster[alice_phone]["subscription"] in ("to", "both")
        finally:
            await disconnect_client(bob)


async def test_a_stranger_is_refused_and_her_probes_get_nothing(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    mallory_jid = f"mallory@{prosody.other_domain}"
    # Servers drop probes sent by clients; the probe a phone JID gets from a stranger is the one
    # her server sends at login when her roster says she sees it. Make it say so, as after an
    # earlier component (whose store is lost since) let her in.
    lost_store = tmp_path / "lost.sqlite"
    async with running_app(e2e_config(prosody, sim, lost_store, allow_remote_jids=[mallory_jid])) as app:
        await ready(app)
        mallory = await connect_client(mallory_jid, prosody.other_users["mallory"], prosody.c2s_port)
        try:
            watch = PresenceWatch(mallory)
            await mallory.get_roster(timeout=5)
            mallory.send_presence()
            mallory.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="subscribed")
        finally:
            await disconnect_client(mallory)

    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        mallory = await connect_client(mallory_jid, prosody.other_users["mallory"], prosody.c2s_port)
        try:
            watch = PresenceWatch(mallory)
            await mallory.get_roster(timeout=5)
            assert mallory.client_roster[alice_phone]["subscription"] in ("to", "both")
            mallory.send_presence()  # initial presence: her server probes alice's phone JID now
            await component_barrier(mallory, prosody.component)  # an answer would be here by now
            assert watch.from_(alice_phone) == []

            mallory.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="unsubscribed")
            await component_barrier(mallory, prosody.component)
            assert [s.ptype for s in watch.from_(alice_phone)] == ["unsubscribed"]
            assert app.phone_jids is not None
            assert app.phone_jids.refused == 1
            assert app.subscriptions is not None
            assert not app.subscriptions.is_subscribed("alice", mallory.boundjid.bare)
        finally:
            await disconnect_client(mallory)


async def test_a_resource_that_left_while_the_stream_was_down_is_forgotten(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        jid, password = f"alice@{prosody.domain}", prosody.users["alice"]
        desk = await connect_client(jid, password, prosody.c2s_port)
        laptop = await connect_client(jid, password, prosody.c2s_port)
        try:
            # One after the other: presences set before the component's subscription is approved
            # are re-sent to it together, in the server's order, with one-second stamps, so
            # which of two is "the most recent" would be a coin toss.
            desk.send_presence(pshow="away")
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "away", 10, "alice away at her desk"
            )
            laptop.send_presence(pshow="chat")
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "chat", 10, "alice chatty on her laptop"
            )
            assert app.supervisor is not None
            sessions = app.supervisor.sessions
            app.xmpp.abort()  # the component's stream dies; the laptop leaves meanwhile
            await disconnect_client(laptop)
            await wait_online(app, sessions=sessions + 1)
            await wait_until(
                lambda: app.hub.im(ALICE_UUID).show.value == "away", 10, "only the desk left, away"
            )
        finally:
            await disconnect_client(desk)


async def test_an_unexpected_failure_of_the_wazo_side_is_logged_and_recovered(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failures = [RuntimeError("a bug in a consumer")]
    original = App.provision

    async def failing_once(self: App) -> bool:
        if failures:
            raise failures.pop()
        return await original(self)

    with caplog.at_level("INFO"):
        App.provision = failing_once  # type: ignore[method-assign]
        try:
            async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
                await ready(app)  # provisioned by the retry after the failed read
                assert app.wazo is not None
                assert "alice" in app.people.by_localpart
        finally:
            App.provision = original  # type: ignore[method-assign]
    assert "reading Wazo's users failed unexpectedly" in caplog.text
    assert "a bug in a consumer" in caplog.text


async def test_a_watcher_no_longer_allowed_is_dropped_and_told_so(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    store = tmp_path / "state.sqlite"
    mallory_jid = f"mallory@{prosody.other_domain}"
    allowed = e2e_config(prosody, sim, store, allow_remote_jids=[mallory_jid])
    mallory = await connect_client(mallory_jid, prosody.other_users["mallory"], prosody.c2s_port)
    try:
        watch = PresenceWatch(mallory)
        await mallory.get_roster(timeout=5)
        mallory.send_presence()
        async with running_app(allowed) as app:
            await ready(app)
            mallory.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="available", state="reachable_by_phone")
        # The operator removes the exception; at the next start mallory is dropped and told so.
        mark = watch.mark()
        async with running_app(e2e_config(prosody, sim, store)) as app:
            await ready(app)
            await watch.wait_for(alice_phone, mark, ptype="unsubscribed")
            assert app.subscriptions is not None
            assert not app.subscriptions.is_subscribed("alice", mallory_jid)
            mark = watch.mark()
            sim.ring("alice", from_number="+33123456789")
            await wait_until(
                lambda: app.hub.presence(ALICE_UUID).activity.value == "ringing", 10, "alice ringing"
            )
            # The change was flushed to the subscribers before the barrier's pongs were sent.
            await component_barrier(mallory, prosody.component)
            assert [s for s in watch.from_(alice_phone, mark) if s.ptype == "available"] == []
    finally:
        await disconnect_client(mallory)


async def test_a_user_hides_her_phone_from_all_but_a_list(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    alice_phone = f"alice@{prosody.component}"
    store = tmp_path / "state.sqlite"
    async with running_app(e2e_config(prosody, sim, store)) as app:
        await ready(app)
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
        carol = await connect_client(f"carol@{prosody.domain}", prosody.users["carol"], prosody.c2s_port)
        try:
            watches = {}
            for client in (bob, carol):
                watches[client] = PresenceWatch(client)
                await client.get_roster(timeout=5)
                await remove_watched_contact(
                    client,
                    alice_phone,
                    lambda c=client: app.subscriptions.is_subscribed("alice", c.boundjid.bare),
                )
                client.send_presence()
                client.send_presence_subscription(pto=alice_phone, ptype="subscribe")
                await watches[client].wait_for(alice_phone, ptype="available")

            replies: asyncio.Queue[str] = asyncio.Queue()
            alice.add_event_handler("message", lambda msg: replies.put_nowait(str(msg["body"])))
            mark = watches[bob].mark()
            alice.send_message(
                mto=prosody.component, mbody=f"privacy only carol@{prosody.domain}", mtype="chat"
            )
            assert await asyncio.wait_for(replies.get(), 10) == (
                f"Your phone state is visible only to: carol@{prosody.domain}."
            )
            await watches[bob].wait_for(alice_phone, mark, ptype="unsubscribed")  # dropped at once

            mark_bob, mark_carol = watches[bob].mark(), watches[carol].mark()
            sim.ring("alice", from_number="+33123456789")
            await watches[carol].wait_for(alice_phone, mark_carol, state="ringing")
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")  # asking again
            await watches[bob].wait_for(alice_phone, mark_bob, ptype="unsubscribed")
            assert [s for s in watches[bob].from_(alice_phone, mark_bob) if s.ptype == "available"] == []
        finally:
            for client in (alice, bob, carol):
                await disconnect_client(client)

    # The choice is kept across a restart.
    async with running_app(e2e_config(prosody, sim, store)) as app:
        await ready(app)
        assert app.settings.privacy(ALICE_UUID).visible_to == {f"carol@{prosody.domain}"}


async def test_an_only_list_cannot_reach_beyond_the_company_rules(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    """mallory@other.test is not allowed by the admin: alice cannot grant her the phone state,
    neither by chat text nor by the form, and mallory's request stays refused."""
    from tests.commands.harness import Adhoc, notes, status

    alice_phone = f"alice@{prosody.component}"
    mallory_jid = f"mallory@{prosody.other_domain}"
    carol_jid = f"carol@{prosody.domain}"
    async with running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        mallory = await connect_client(mallory_jid, prosody.other_users["mallory"], prosody.c2s_port)
        try:
            replies: asyncio.Queue[str] = asyncio.Queue()
            alice.add_event_handler("message", lambda msg: replies.put_nowait(str(msg["body"])))
            alice.send_message(
                mto=prosody.component, mbody=f"privacy only {carol_jid} {mallory_jid}", mtype="chat"
            )
            reply = await asyncio.wait_for(replies.get(), 10)
            assert reply.startswith("Sorry")
            assert mallory_jid in reply
            assert "company" in reply
            assert carol_jid not in reply  # only the refused entry is named
            assert not app.settings.privacy(ALICE_UUID).hidden  # nothing changed

            adhoc = Adhoc(alice, prosody.component)
            iq = await adhoc.execute("privacy")
            iq = await adhoc.act("complete", visibility="only", visible_to=f"{mallory_jid} {carol_jid}")
            # "complete" ends an XEP-0050 session whatever the answer: it ends with the note.
            assert status(iq) == "completed"
            [(level, text)] = notes(iq)
            assert level == "error"
            assert mallory_jid in text
            assert carol_jid not in text
            assert not app.settings.privacy(ALICE_UUID).hidden

            # mallory asks for alice's phone anyway: still refused.
            watch = PresenceWatch(mallory)
            await mallory.get_roster(timeout=5)
            mallory.send_presence()
            mallory.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="unsubscribed")
            assert app.subscriptions is not None
            assert not app.subscriptions.is_subscribed("alice", mallory_jid)
        finally:
            for client in (alice, mallory):
                await disconnect_client(client)


async def test_a_watcher_whose_unsubscribe_was_lost_subscribes_again_and_is_answered(
    xmpp_server: ProsodyServer | EjabberdServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    """RFC 6121 3.1.3: a subscribe from someone already subscribed is answered ``subscribed``
    (and here with the current presence), never left unanswered."""
    prosody = xmpp_server  # Prosody, then ejabberd
    alice_phone = f"alice@{prosody.component}"
    store = tmp_path / "state.sqlite"
    bob_jid = f"bob@{prosody.domain}"
    bob = await connect_client(bob_jid, prosody.users["bob"], prosody.c2s_port)
    try:
        watch = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        if alice_phone in bob.client_roster:  # left by another test on this server
            await bob.del_roster_item(alice_phone)
        bob.send_presence()
        async with running_app(e2e_config(prosody, sim, store)) as app:
            await ready(app)
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="subscribed")
            await watch.wait_for(alice_phone, ptype="available", state="reachable_by_phone")
            # A client asking twice gets the presence again (its server, already subscribed,
            # swallows the second "subscribed" as RFC 6121 3.1.6 says, so only the presence shows).
            mark = watch.mark()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, mark, ptype="available", state="reachable_by_phone")
        # The component is down: bob removes the contact, and his unsubscribe is lost.
        await bob.del_roster_item(alice_phone)
        await wait_until(lambda: alice_phone not in bob.client_roster, 10, "alice's phone removed")
        async with running_app(e2e_config(prosody, sim, store)) as app:
            await ready(app)
            assert app.subscriptions is not None
            assert app.subscriptions.is_subscribed("alice", bob_jid)  # the store never heard of it
            mark = watch.mark()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")  # he adds her again
            await watch.wait_for(alice_phone, mark, ptype="subscribed")
            await watch.wait_for(alice_phone, mark, ptype="available", state="reachable_by_phone")
            await wait_until(
                lambda: bob.client_roster[alice_phone]["subscription"] in ("to", "both"),
                10,
                "bob's roster to show the subscription",
            )
            # Leave bob's roster clean for the next test on this server, and wait until the
            # component has handled (and answered) his unsubscribe before it stops: a late
            # "unsubscribed" would otherwise cancel the next test's subscription request.
            await bob.del_roster_item(alice_phone)
            await wait_until(
                lambda: not app.subscriptions.is_subscribed("alice", bob_jid), 10, "bob's unsubscribe"
            )
    finally:
        await disconnect_client(bob)


async def test_a_stop_during_the_chat_side_provisioning_leaves_no_task_behind(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    """The provisioning run waits for XEP-0356 privileges, then writes approvals to the store: a
    stop in that wait must end it before the store closes, not leave it to fail afterwards."""
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite", privilege_grace=30.0)
    async with running_app(config) as app:
        await ready(app)
        assert app.intake is not None
        provisioning = app.intake._provisioning
        assert provisioning is not None
        assert not provisioning.done()  # still in the privilege wait
    assert provisioning.done()
    assert provisioning.cancelled() or provisioning.exception() is None


async def test_a_stop_right_after_start_always_ends_the_app(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    """Stopping as the background loops wake up (the first read of the users, the provisioning)
    must end every one of them: a cancellation lost in a race left the app running for ever.
    The race is narrow, so the stop is repeated; the bound only tells a hang from a slow stop."""
    for attempt in range(20):
        app = App(e2e_config(prosody, sim, tmp_path / f"state-{attempt}.sqlite", privilege_grace=30.0))
        running = asyncio.create_task(app.run(install_signal_handlers=False))
        await asyncio.wait_for(app.started.wait(), 10)
        await ready(app)
        app.request_stop()
        done, _ = await asyncio.wait([running], timeout=30)
        assert done, f"attempt {attempt}: the app did not stop; tasks left: {asyncio.all_tasks()}"


async def watcher_offline_during_a_change(
    app: App, server: ProsodyServer | EjabberdServer, sim: WazoSimulator
) -> None:
    """bob watches alice's phone, logs out, alice's phone rings: nothing is sent to bob (his server
    would drop it), and at his next login he sees her ringing, then her next change."""
    alice_phone, bob_jid = f"alice@{server.component}", f"bob@{server.domain}"
    bob = await connect_client(bob_jid, server.users["bob"], server.c2s_port)
    try:
        watch = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        assert app.subscriptions is not None
        subscriptions = app.subscriptions
        await remove_watched_contact(bob, alice_phone, lambda: subscriptions.is_subscribed("alice", bob_jid))
        mark = watch.mark()
        bob.send_presence()
        bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
        await watch.wait_for(alice_phone, mark, ptype="subscribed")
        await watch.wait_for(alice_phone, mark, ptype="available")
        await wait_until(lambda: app.chat_sessions.known(bob_jid), 10, "bob's chat presence learnt")
    finally:
        await disconnect_client(bob)
    await wait_until(lambda: not app.chat_sessions.may_receive(bob_jid), 10, "bob known offline")
    assert app.publisher is not None
    sent = app.publisher.stanzas_sent
    call = sim.ring("alice", from_number="+33123456789")
    await wait_until(lambda: app.hub.presence(ALICE_UUID).activity == "ringing", 10, "alice ringing")
    await asyncio.sleep(0.2)  # a flush would have been written by now
    assert app.publisher.stanzas_sent == sent  # bob is alice's only watcher: nothing to anyone

    bob = await connect_client(bob_jid, server.users["bob"], server.c2s_port)
    try:
        watch = PresenceWatch(bob)
        await bob.get_roster(timeout=5)
        bob.send_presence()  # his server probes alice's phone JID: the answer is current
        await watch.wait_for(alice_phone, show="dnd", state="ringing")
        mark = watch.mark()
        sim.hangup(call_id=call["call_id"])
        await watch.wait_for(alice_phone, mark, ptype="available", state="reachable_by_phone")
    finally:
        await disconnect_client(bob)


async def test_a_watcher_offline_during_a_change_is_not_sent_it_and_sees_it_at_login(
    xmpp_server: ProsodyServer | EjabberdServer, sim: WazoSimulator, tmp_path: Path
) -> None:
    # Subscription mode, on Prosody (login broadcast before the probes) and ejabberd (probes first).
    async with running_app(e2e_config(xmpp_server, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        await watcher_offline_during_a_change(app, xmpp_server, sim)


async def test_after_a_reconnect_a_watcher_who_stayed_gets_only_what_changed(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await reconnect_sends_only_what_is_needed(prosody, sim, tmp_path, monkeypatch)


async def reconnect_sends_only_what_is_needed(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The component's stream dies and comes back: bob, online all along, gets alice's change made
    meanwhile and not carol's unchanged presence again; carol, who logged in a second client while
    the link was down (its probes bounced off the missing component), gets everything."""
    alice_phone, bob_phone, carol_phone = (f"{u}@{prosody.component}" for u in ("alice", "bob", "carol"))
    bob_jid, carol_jid = f"bob@{prosody.domain}", f"carol@{prosody.domain}"
    config = component_config(
        prosody,
        tmp_path / "state.sqlite",
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        # A pong proves delivery soon after each write; the outage lasts long enough for a login.
        component={"keepalive_interval": 0.2, "reconnect_min_delay": 3.0, "reconnect_max_delay": 3.0},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    )
    # Server and component share a clock here: a second of tolerance instead of five keeps it short.
    monkeypatch.setattr(publisher_module, "CLOCK_MARGIN", 1.0)
    async with running_app(config) as app:
        await ready(app)
        assert app.publisher is not None
        assert app.supervisor is not None
        assert app.xmpp is not None
        bob = await connect_client(bob_jid, prosody.users["bob"], prosody.c2s_port)
        carol = await connect_client(carol_jid, prosody.users["carol"], prosody.c2s_port)
        carol2 = None
        try:
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()
            for phone in (alice_phone, carol_phone):
                bob.send_presence_subscription(pto=phone, ptype="subscribe")
                await watch.wait_for(phone, ptype="available")
            await carol.get_roster(timeout=5)
            carol.send_presence()
            carol.send_presence_subscription(pto=bob_phone, ptype="subscribe")
            await PresenceWatch(carol).wait_for(bob_phone, ptype="available")
            for jid in (bob_jid, carol_jid):
                await wait_until(lambda jid=jid: app.chat_sessions.known(jid), 10, f"{jid} learnt")
            await asyncio.sleep(1.2)  # Prosody's delay stamps have a one-second resolution
            # A keepalive ping answered after every write so far: all of it proven delivered.
            proven = time.time()
            await wait_until(lambda: (app.publisher.delivered_at or 0) > proven, 5, "a keepalive pong")

            sessions = app.supervisor.sessions
            app.xmpp.abort()  # the stream dies; meanwhile alice's phone rings and carol logs in again
            sim.ring("alice", from_number="+33123456789")
            await wait_until(lambda: app.hub.presence(ALICE_UUID).activity == "ringing", 10, "alice ringing")
            carol2 = await connect_client(carol_jid, prosody.users["carol"], prosody.c2s_port)
            carol2_watch = PresenceWatch(carol2)
            await carol2.get_roster(timeout=5)
            mark = watch.mark()
            carol2.send_presence()  # its probe of bob's phone JID bounces: the component is away
            await carol2_watch.wait_for(bob_phone, ptype="error")
            assert not app.supervisor.online.is_set()
            await wait_online(app, sessions=sessions + 1)

            await watch.wait_for(alice_phone, mark, state="ringing")
            await carol2_watch.wait_for(bob_phone, ptype="available")
            await component_barrier(bob, prosody.component)
            assert [s.frm for s in watch.seen[mark:] if s.frm.startswith("carol@")] == []
        finally:
            for client in (bob, carol, carol2):
                if client is not None:
                    await disconnect_client(client)
