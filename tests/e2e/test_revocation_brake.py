"""The mass revocation brake over the wire: an operator's change that would drop most watchers
drops nothing until an administrator confirms; nobody else may confirm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, fields, notes, status
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import component_config, running_app, wait_until, watchers_of
from wazo_sim.app import WazoSimulator
from xmpp_component.config import Config

COMMANDS = "http://jabber.org/protocol/commands"


def config(server: ProsodyServer, sim: WazoSimulator, store: Path, **presence: object) -> Config:
    return component_config(
        server,
        store,
        component={"admins": [f"carol@{server.domain}"]},
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3, **presence},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    )


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


async def test_a_mass_revocation_waits_for_an_admin_and_only_an_admin_may_confirm(
    prosody: ProsodyServer, sim: WazoSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "state.sqlite"
    alice_phone, bob_phone = f"alice@{prosody.component}", f"bob@{prosody.component}"
    mallory_jid = f"mallory@{prosody.other_domain}"
    mallory = await connect_client(mallory_jid, prosody.other_users["mallory"], prosody.c2s_port)
    bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
    carol = await connect_client(f"carol@{prosody.domain}", prosody.users["carol"], prosody.c2s_port)
    alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    try:
        watches = {}
        for client in (mallory, bob):
            watches[client] = PresenceWatch(client)
            await client.get_roster(timeout=5)
            for phone in (alice_phone, bob_phone):
                if phone in client.client_roster:  # left by another test on this server
                    await client.del_roster_item(phone)
            client.send_presence()
        # other.test is a partner: mallory watches alice and bob, bob watches alice (3 stored).
        async with running_app(
            config(prosody, sim, store, allow_remote_domains=[prosody.other_domain])
        ) as app:
            await ready(app)
            for client, phone in ((mallory, alice_phone), (mallory, bob_phone), (bob, alice_phone)):
                mark = watches[client].mark()
                client.send_presence_subscription(pto=phone, ptype="subscribe")
                await watches[client].wait_for(phone, mark, ptype="subscribed")

        # The operator drops other.test from the allow list: 2 of 3 subscriptions, of two users.
        mark = watches[mallory].mark()
        with caplog.at_level("INFO"):
            async with running_app(config(prosody, sim, store)) as app:
                await ready(app)
                assert app.phone_jids is not None
                assert app.subscriptions is not None
                await wait_until(lambda: app.phone_jids.pending_revocation is not None, 10, "the brake")
                assert "mass revocation held back: 2 of 3 stored subscriptions" in caplog.text
                assert "presence.allow_remote_domains" in caplog.text
                assert app.subscriptions.is_subscribed("alice", mallory_jid)
                assert app.subscriptions.is_subscribed("bob", mallory_jid)

                # bob is no admin: the command is not listed, executing it is forbidden, chat refused.
                items = await bob.plugin["xep_0030"].get_items(jid=prosody.component, node=COMMANDS)
                assert "confirm-revocations" not in {item[1] for item in items["disco_items"]["items"]}
                with pytest.raises(IqError) as refused:
                    await Adhoc(bob, prosody.component).execute("confirm-revocations")
                assert refused.value.iq["error"]["condition"] == "forbidden"
                replies: asyncio.Queue[str] = asyncio.Queue()
                bob.add_event_handler("message", lambda msg: replies.put_nowait(str(msg["body"])))
                bob.send_message(mto=prosody.component, mbody="confirm revocations", mtype="chat")
                assert await asyncio.wait_for(replies.get(), 10) == (
                    "Sorry: Only the service's administrators may run this command."
                )
                assert app.phone_jids.pending_revocation is not None
                assert app.subscriptions.is_subscribed("alice", mallory_jid)
                # The component keeps serving meanwhile.
                assert await bob.plugin["xep_0199"].ping(prosody.component, timeout=5) >= 0

                # A user's own privacy change is not braked, even while a mass revocation waits.
                alice_replies: asyncio.Queue[str] = asyncio.Queue()
                alice.add_event_handler("message", lambda msg: alice_replies.put_nowait(str(msg["body"])))
                bob_mark = watches[bob].mark()
                alice.send_message(
                    mto=prosody.component, mbody=f"privacy only carol@{prosody.domain}", mtype="chat"
                )
                await asyncio.wait_for(alice_replies.get(), 10)
                await watches[bob].wait_for(alice_phone, bob_mark, ptype="unsubscribed")
                await watches[mallory].wait_for(alice_phone, mark, ptype="unsubscribed")
                assert app.subscriptions.is_subscribed("bob", mallory_jid)  # still held back

                # carol is an admin: she sees the command and what it would drop, and confirms.
                items = await carol.plugin["xep_0030"].get_items(jid=prosody.component, node=COMMANDS)
                assert "confirm-revocations" in {item[1] for item in items["disco_items"]["items"]}
                adhoc = Adhoc(carol, prosody.component)
                iq = await adhoc.execute("confirm-revocations")
                assert status(iq) == "executing"
                assert fields(iq)["summary"]["value"] == (
                    "1 of 1 stored subscriptions (100%, watchers of 1 user) would be dropped; "
                    f"the watchers are at {prosody.other_domain} (1)."
                )
                iq = await adhoc.act("complete")
                assert (status(iq), notes(iq)) == (
                    "completed",
                    [("info", "Dropped 1 subscription; each watcher was told 'unsubscribed'.")],
                )
                await watches[mallory].wait_for(bob_phone, mark, ptype="unsubscribed")
                assert app.phone_jids.pending_revocation is None
                assert watchers_of(app, "alice") == set()
                assert watchers_of(app, "bob") == set()
    finally:
        for client in (mallory, bob, carol, alice):
            await disconnect_client(client)
