"""Click-to-call on a contact, over the wire: the phone JID lists "Call Bob Martin" in disco,
runs it (a pick list of his numbers), and a chat "call" sent to it calls him; users of other
domains are offered nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, RecordingSimulator, fields, options, status, two_bobs_world
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.e2e.watch import component_barrier
from tests.xmpp.appctl import running_app, wait_until

pytestmark = pytest.mark.server
COMMANDS = "http://jabber.org/protocol/commands"


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(two_bobs_world()) as simulator:
        yield simulator


async def test_contact_commands_on_phone_jids(
    prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path
) -> None:
    async with running_app(e2e_config(prosody, sim, tmp_path / "s.sqlite")) as app:
        await ready(app)
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        mallory = await connect_client(
            f"mallory@{prosody.other_domain}", prosody.other_users["mallory"], prosody.c2s_port
        )
        try:
            bobm = next(p for p in app.people.by_uuid.values() if p.wazo_uuid.startswith("4444"))
            bob_phone = f"{bobm.localpart}@{prosody.component}"
            items = await alice.plugin["xep_0030"].get_items(jid=bob_phone, node=COMMANDS)
            assert [(i[1], i[2]) for i in items["disco_items"]["items"]] == [("call", "Call Bob Martin")]
            # the component's own commands are still listed on its bare domain
            own = await alice.plugin["xep_0030"].get_items(jid=prosody.component, node=COMMANDS)
            assert ("call", "Call") in {(i[1], i[2]) for i in own["disco_items"]["items"]}

            adhoc = Adhoc(alice, bob_phone)
            iq = await adhoc.execute("call")
            assert status(iq) == "executing"
            assert options(iq, "choice") == [
                ("1004", "Bob Martin — 1004 (extension) — Reachable by phone"),
                ("+33612345678", "Bob Martin — +33612345678 (mobile) — Reachable by phone"),
            ]
            assert "choice" in fields(iq)
            iq = await adhoc.act("complete", choice="1004")
            assert status(iq) == "completed"
            assert sim.originations[-1]["destination"]["extension"] == "1004"
            sim.hangup(user="alice")

            chat = Chat(alice, bob_phone)
            reply = await chat.say("call")
            assert reply.splitlines()[0].startswith("Calling Bob Martin (1004)"), reply
            assert reply.splitlines()[1].startswith("Other number: Bob Martin — +33612345678 (mobile)")
            assert sim.originations[-1]["destination"]["extension"] == "1004"
            sim.hangup(user="alice")

            # another domain's user: no command listed, and running it is refused
            items = await mallory.plugin["xep_0030"].get_items(jid=bob_phone, node=COMMANDS)
            assert list(items["disco_items"]["items"]) == []
            with pytest.raises(IqError) as refused:
                await Adhoc(mallory, bob_phone).execute("call")
            assert refused.value.condition == "item-not-found"
        finally:
            await disconnect_client(alice)
            await disconnect_client(mallory)


async def test_call_sent_to_a_phone_jid_is_rate_limited_like_the_main_chat(
    prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path
) -> None:
    """ "call" to a phone JID dials at once: it counts against calls.max_calls_per_minute, and a
    sender flooding phone JIDs gets silence (the same per-sender budget as the chat to the
    component: a runaway client or another bot must not get an answer per message)."""
    from xmpp_component.commands.chat import MESSAGES_PER_MINUTE

    config = e2e_config(prosody, sim, tmp_path / "s.sqlite")
    config = type(config)(
        **{**config.__dict__, "calls": type(config.calls)(max_calls_per_minute=2, missed_call_wait=600)}
    )
    async with running_app(config) as app:
        await ready(app)
        alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
        try:
            bobm = next(p for p in app.people.by_uuid.values() if p.wazo_uuid.startswith("4444"))
            chat = Chat(alice, f"{bobm.localpart}@{prosody.component}")
            for _ in range(2):
                assert (await chat.say("call")).startswith("Calling Bob Martin (1004)")
                sim.hangup(user="alice")
            assert (await chat.say("call")).splitlines()[0] == (
                "Sorry: Too many calls: at most 2 per minute; try again in 60 s."
            )
            assert len(sim.originations) == 2

            for _ in range(MESSAGES_PER_MINUTE + 5):
                alice.send_message(mto=chat.component, mbody="call", mtype="chat")
            answered = MESSAGES_PER_MINUTE - 3  # 3 messages counted already
            await wait_until(lambda: chat.replies.qsize() >= answered, 10, "the answers within the limit")
            await component_barrier(alice, prosody.component)  # answers to the rest would be here
            assert chat.replies.qsize() == answered
            # one budget per sender: the component's own chat is silent for them too, for now
            own = Chat(alice, prosody.component)
            alice.send_message(mto=prosody.component, mbody="help", mtype="chat")
            await component_barrier(alice, prosody.component)
            assert own.replies.qsize() == 0
            assert len(sim.originations) == 2
        finally:
            await disconnect_client(alice)
