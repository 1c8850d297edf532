"""Click-to-call end to end: real Prosody, real slixmpp clients executing the commands over the
wire (XEP-0050 forms and chat text), the component, and the Wazo simulator receiving the
origination (its body is asserted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.call_history import Direction
from presence.model import Activity
from tests.commands.harness import Adhoc, RecordingSimulator, fields, notes, options, status, two_bobs_world
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.e2e.watch import component_barrier
from tests.xmpp.appctl import running_app, wait_until
from xmpp_component.app import App
from xmpp_component.call_history import CallHistory

ALICE_UUID = "11111111-1111-4111-8111-111111111111"  # the simulator's alice (demo_users.toml)

pytestmark = pytest.mark.server

ALICE = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(two_bobs_world()) as simulator:
        yield simulator


@pytest.fixture
async def app(prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path) -> AsyncIterator[App]:
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    async with running_app(config) as running:
        await ready(running)
        yield running


@pytest.fixture
async def login(prosody: ProsodyServer) -> AsyncIterator[Any]:
    clients: list[ClientXMPP] = []

    async def connect(user: str, domain: str = "") -> ClientXMPP:
        if domain:
            client = await connect_client(f"{user}@{domain}", prosody.other_users[user], prosody.c2s_port)
        else:
            client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await disconnect_client(client)


def origination(
    extension: str, context: str = "default", line_id: int = 11, user: str = ALICE
) -> dict[str, Any]:
    return {
        "source": {"user": user, "line_id": line_id},
        "destination": {"extension": extension, "context": context, "priority": 1},
        "variables": {},
    }


async def test_call_bob_by_name_confirm_ring_and_hang_up(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    alice = await login("alice")
    # disco#items lists the commands alice may run
    items = await alice.plugin["xep_0030"].get_items(
        jid=prosody.component, node="http://jabber.org/protocol/commands"
    )
    listed = {(item[1], item[2]) for item in items["disco_items"]["items"]}
    assert listed == {
        ("call", "Call"),
        ("hangup", "Hang up"),
        ("callback", "Call back"),
        ("calls", "Recent calls"),
        ("voicemail", "Voicemail"),
        ("privacy", "Phone privacy"),
        ("settings", "Settings"),
    }

    adhoc = Adhoc(alice, prosody.component)
    iq = await adhoc.execute("call")
    assert status(iq) == "executing"
    assert set(iq["command"]["actions"]) == {"next"}
    assert "number" in fields(iq)
    iq = await adhoc.act("next", number="Bob Brown")
    assert status(iq) == "executing"
    assert fields(iq)["summary"]["value"] == "Call Bob Brown — 1002 (extension)?"
    assert set(iq["command"]["actions"]) == {"complete", "prev"}
    assert sim.originations == []
    iq = await adhoc.act("complete")
    assert status(iq) == "completed"
    assert notes(iq) == [
        (
            "info",
            "Calling Bob Brown (1002): your phone (alice-desk) rings first; "
            "the call goes out when you pick up.",
        )
    ]
    assert sim.originations == [origination("1002")]
    # alice's own phone rings first; when she picks up, bob's rings and alice is Calling
    assert [c["status"] for c in sim.state()["users"]["alice"]["calls"]] == ["Ringing"]
    sim.answer(user="alice")
    assert [c["status"] for c in sim.state()["users"]["bob"]["calls"]] == ["Ringing"]
    await wait_until(lambda: app.hub.presence(ALICE_UUID).activity is Activity.CALLING, 10, "alice calling")
    sim.answer(user="bob")
    await wait_until(
        lambda: app.hub.presence(ALICE_UUID).activity is Activity.ON_THE_PHONE, 10, "alice talking"
    )

    # Hang up: one call, a confirmation naming it, and it is gone
    hangup = Adhoc(alice, prosody.component)
    iq = await hangup.execute("hangup")
    assert fields(iq)["summary"]["value"] == "Hang up Bob Brown (1002), outgoing, talking?"
    iq = await hangup.act("complete")
    assert notes(iq) == [("info", "Hung up: Bob Brown (1002), outgoing, talking.")]
    assert sim.state()["users"]["alice"]["calls"] == []
    assert sim.state()["users"]["bob"]["calls"] == []
    iq = await Adhoc(alice, prosody.component).execute("hangup")
    assert (status(iq), notes(iq)) == ("completed", [("info", "You have no call in progress.")])


async def test_several_matches_pick_prev_cancel_and_a_refused_number(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    alice = await login("alice")
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call")
    iq = await adhoc.act("next", number="bob")
    assert options(iq, "choice") == [
        ("1002", "Bob Brown — 1002 (extension) — Reachable by phone"),
        ("1004", "Bob Martin — 1004 (extension) — Reachable by phone"),
        ("+33612345678", "Bob Martin — +33612345678 (mobile) — Reachable by phone"),
    ]
    # prev goes back to the first form; cancel ends without a call
    iq = await adhoc.act("prev")
    assert "number" in fields(iq)
    iq = await adhoc.act("cancel")
    assert status(iq) == "canceled"
    assert sim.originations == []

    # the mobile is not reachable through this PBX: a precise note, no traceback
    await adhoc.execute("call")
    await adhoc.act("next", number="bob")
    iq = await adhoc.act("complete", choice="+33612345678")
    assert (status(iq), notes(iq)) == (
        "completed",
        [
            (
                "error",
                "The phone system refused to dial +33 6 12 34 56 78 (dialled as +33612345678): "
                "it is not a number it can reach.",
            )
        ],
    )
    assert sim.originations[-1]["destination"]["extension"] == "+33612345678"

    await adhoc.execute("call")
    await adhoc.act("next", number="bob")
    iq = await adhoc.act("complete", choice="1004")
    assert notes(iq)[0][0] == "info"
    assert sim.originations[-1] == origination("1004")

    # a prefilled number (what a link passes) goes straight to the confirmation
    iq = await adhoc.execute("call", number="01 23 45 67 89")
    assert fields(iq)["summary"]["value"] == "Call +33 1 23 45 67 89 (number), dialled as +33123456789?"


@pytest.mark.parametrize(
    ("typed", "note"),
    [
        ("", "Number, extension or name: '' is empty: type a number, an extension or a name"),
        ("1" * 70, "Number, extension or name: '" + "1" * 40 + "' is too long (70 characters, at most 64)"),
        ("+33 1 23 AB 67 89", "Number, extension or name: '+33 1 23 AB 67 89' contains letters (AB)"),
        (
            "+33 12 34 56",
            "Number, extension or name: '+33 12 34 56' is not a valid phone number for region FR",
        ),
        ("zed", "Number, extension or name: no one in the directory matches 'zed'"),
    ],
)
async def test_every_validation_error_is_a_precise_note_on_the_same_form(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any, typed: str, note: str
) -> None:
    alice = await login("alice")
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call")
    iq = await adhoc.act("next", number=typed)
    assert status(iq) == "executing"
    assert [kind for kind, _ in notes(iq)] == ["error"]
    assert notes(iq)[0][1].startswith(note)
    assert (fields(iq)["number"]["value"] or "") == typed  # what was typed is kept for correction
    iq = await adhoc.act("next", number="1002")  # and the form still works
    assert fields(iq)["summary"]["value"] == "Call 1002 (extension)?"
    assert sim.originations == []


async def test_a_pbx_refusal_an_unprovisioned_user_a_stranger_and_someone_elses_call(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    alice = await login("alice")
    # an extension the PBX does not know
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call", number="9999")
    iq = await adhoc.act("complete")
    assert notes(iq) == [("error", "The phone system refused to dial 9999: it is not a number it can reach.")]

    # carol chats but has no Wazo user: a clear note, and nothing listed
    carol = await login("carol")
    iq = await Adhoc(carol, prosody.component).execute("call")
    assert status(iq) == "completed"
    assert notes(iq) == [
        (
            "error",
            f"Carol@{prosody.domain} is not provisioned: no Wazo phone user is linked to this chat account "
            "(ask your administrator).",
        )
    ]
    items = await carol.plugin["xep_0030"].get_items(
        jid=prosody.component, node="http://jabber.org/protocol/commands"
    )
    assert list(items["disco_items"]["items"]) == []

    # a stranger from another domain is refused outright
    mallory = await login("mallory", prosody.other_domain)
    with pytest.raises(IqError) as refused:
        await Adhoc(mallory, prosody.component).execute("call")
    assert refused.value.iq["error"]["condition"] == "forbidden"

    # bob is on the phone; alice may not hang up his call, by id or by taking over a session
    bobs = sim.ring("bob", from_number="+33123456789")
    iq = await Adhoc(alice, prosody.component).execute("hangup", call=bobs["call_id"])
    assert notes(iq) == [("error", "Call: that call is not one of your current calls (it may have ended).")]
    assert [c["call_id"] for c in sim.state()["users"]["bob"]["calls"]] == [bobs["call_id"]]
    bob = await login("bob")
    bob_session = Adhoc(bob, prosody.component)
    await bob_session.execute("hangup")
    thief = Adhoc(alice, prosody.component)
    thief.node, thief.sessionid = "hangup", bob_session.sessionid
    with pytest.raises(IqError) as stolen:
        await thief.act("complete")
    assert stolen.value.iq["error"]["condition"] == "forbidden"
    assert [c["call_id"] for c in sim.state()["users"]["bob"]["calls"]] == [bobs["call_id"]]
    iq = await bob_session.act("complete")  # bob himself may
    assert notes(iq)[0] == ("info", "Hung up: +33 1 23 45 67 89, incoming, ringing.")
    assert sim.state()["users"]["bob"]["calls"] == []


async def test_a_call_uses_the_users_lines_read_at_provisioning_until_wazo_says_they_changed(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    alice = await login("alice")
    reads = sim.user_reads
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call", number="1002")
    iq = await adhoc.act("complete")
    assert notes(iq)[0][0] == "info"
    assert sim.originations[-1] == origination("1002")
    assert sim.user_reads == reads  # no confd request for alice's lines
    sim.hangup(user="alice")
    # Wazo says alice changed: until the users are read again, her lines come from confd.
    sim.edit_user("alice", firstname="Alicia")
    await wait_until(lambda: ALICE in app._users_stale, 10, "the change heard")
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call", number="1002")
    iq = await adhoc.act("complete")
    assert notes(iq)[0][0] == "info"
    assert sim.user_reads == reads + 1


async def test_hang_up_reads_the_calls_from_the_event_stream_not_from_calld(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    alice = await login("alice")
    alices = sim.ring("alice", from_number="+33123456789")
    bobs = sim.ring("bob", from_number="+33987654321")
    await wait_until(lambda: len(app.tracker.get(ALICE).calls) == 1, 10, "alice's call tracked")
    lists = sim.call_lists
    hangup = Adhoc(alice, prosody.component)
    iq = await hangup.execute("hangup")
    assert fields(iq)["summary"]["value"] == "Hang up +33 1 23 45 67 89, incoming, ringing?"
    iq = await hangup.act("complete")
    assert notes(iq) == [("info", "Hung up: +33 1 23 45 67 89, incoming, ringing.")]
    # Listed and checked again at submit without calld's tenant-wide list of calls.
    assert sim.call_lists == lists
    assert sim.state()["users"]["alice"]["calls"] == []
    assert [c["call_id"] for c in sim.state()["users"]["bob"]["calls"]] == [bobs["call_id"]]
    # Someone else's call id is still refused (the tracker has it, as bob's, not alice's).
    iq = await Adhoc(alice, prosody.component).execute("hangup", call=bobs["call_id"])
    assert notes(iq) == [("error", "Call: that call is not one of your current calls (it may have ended).")]
    assert [c["call_id"] for c in sim.state()["users"]["bob"]["calls"]] == [bobs["call_id"]]
    # Her ended call, submitted again: not hers any more.
    iq = await Adhoc(alice, prosody.component).execute("hangup", call=alices["call_id"])
    assert notes(iq) == [("error", "Call: that call is not one of your current calls (it may have ended).")]


class Chat:
    """Text commands to the component's bare domain, and its replies."""

    def __init__(self, client: ClientXMPP, component: str) -> None:
        self.client = client
        self.component = component
        self.replies: asyncio.Queue[str] = asyncio.Queue()
        client.add_event_handler("message", self._got)

    def _got(self, msg: Any) -> None:
        if msg["from"].bare == self.component and msg["body"]:
            self.replies.put_nowait(str(msg["body"]))

    async def say(self, text: str) -> str:
        self.client.send_message(mto=self.component, mbody=text, mtype="chat")
        return await asyncio.wait_for(self.replies.get(), 10)


async def history_has_an_incoming_call(history: CallHistory, user_uuid: str = ALICE_UUID) -> None:
    # the user's own outgoing calls may already be in the history; wait for the incoming one
    # itself, whose row is written in a batch a few ms after the hang-up event
    for _ in range(500):
        newest = await history.recent(user_uuid, 1)
        if newest and newest[0].direction is Direction.INCOMING:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no incoming call in {user_uuid}'s history after 10 s")


async def test_chat_text_commands(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    config = type(config)(
        **{**config.__dict__, "calls": type(config.calls)(max_calls_per_minute=4, missed_call_wait=600)}
    )
    async with running_app(config) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        link = f"xmpp:{prosody.component}?command;node=call;number="

        assert (await chat.say("help")).splitlines()[1:4] == [
            "  call <number, extension or name>   e.g. call bob, call 1002, call +33 1 23 45 67 89",
            "  hangup   ends your current call (or lists them when you have several)",
            "  call back   calls your last caller; call back 2: the 2nd of your recent calls",
        ]
        # one match: the typed command is the confirmation
        reply = await chat.say("call Bob Brown")
        assert reply == (
            "Calling Bob Brown (1002): your phone (alice-desk) rings first; "
            "the call goes out when you pick up.\n"
            f"Call 1002 again: {link}1002  (or type: call 1002)"
        )
        assert sim.originations == [origination("1002")]
        # alice's phone still rings: calld does not know the far end's name yet
        assert await chat.say("hangup") == "Hung up: 1002, outgoing, ringing."

        # several matches: a numbered pick list, each number with its call link
        reply = await chat.say("call bob")
        assert reply.splitlines() == [
            "3 numbers match 'bob'.",
            f"1. Bob Brown — 1002 (extension) — Reachable by phone  {link}1002",
            f"2. Bob Martin — 1004 (extension) — Reachable by phone  {link}1004",
            f"3. Bob Martin — +33612345678 (mobile) — Reachable by phone  {link}%2B33612345678",
            "Reply with a number from 1 to 3, or cancel.",
        ]
        assert await chat.say("7") == "Reply with a number from 1 to 3, or cancel."
        assert (await chat.say("2")).startswith("Calling Bob Martin (1004)")
        assert sim.originations[-1] == origination("1004")
        sim.hangup(user="alice")
        await chat.say("call bob")
        assert await chat.say("cancel") == "Cancelled: nothing was done."
        assert await chat.say("2") == "I don't know '2'. Type help for the list of commands."

        # validation errors name the field
        reply = await chat.say("call +33 1 23 AB 67 89")
        assert reply.splitlines()[0] == (
            "Number, extension or name: '+33 1 23 AB 67 89' contains letters (AB): "
            "a number may only hold digits, spaces, + - . ( )"
        )
        await chat.say("cancel")
        assert (await chat.say("call 9999")) == (
            "Sorry: The phone system refused to dial 9999: it is not a number it can reach."
        )

        # call back the last caller (bob rang alice from his phone): from the call history
        sim.ring("alice", from_user="bob")
        sim.hangup(user="alice")
        await history_has_an_incoming_call(app.history)
        assert (await chat.say("call back")).startswith("Calling Bob Brown (1002)")
        assert sim.originations[-1] == origination("1002")
        sim.hangup(user="alice")

        # rate limit: 4 originations per minute (1002, 1004, 9999, 1002 so far)
        assert (await chat.say("call 1002")) == (
            "Sorry: Too many calls: at most 4 per minute; try again in 60 s."
        )
        assert len(sim.originations) == 4
        assert await chat.say("dance") == "I don't know 'dance'. Type help for the list of commands."


async def test_chat_from_a_stranger_and_an_unprovisioned_user(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, login: Any
) -> None:
    mallory = Chat(await login("mallory", prosody.other_domain), prosody.component)
    assert (
        await mallory.say("call bob")
        == "Sorry, this service is only for users of this company's chat domains."
    )
    carol = Chat(await login("carol"), prosody.component)
    assert (await carol.say("call bob")).startswith(f"Sorry: Carol@{prosody.domain} is not provisioned")
    assert "Calls are not available" in await carol.say("help")
    assert sim.originations == []


async def test_a_flooding_sender_gets_silence_instead_of_an_answer_loop(
    app: App, prosody: ProsodyServer, login: Any
) -> None:
    from xmpp_component.commands.chat import MESSAGES_PER_MINUTE

    mallory = Chat(await login("mallory", prosody.other_domain), prosody.component)
    for _ in range(MESSAGES_PER_MINUTE + 5):
        mallory.client.send_message(mto=prosody.component, mbody="hello?", mtype="chat")
    await wait_until(
        lambda: mallory.replies.qsize() >= MESSAGES_PER_MINUTE, 10, "the answers within the limit"
    )
    await component_barrier(mallory.client, prosody.component)  # answers to the rest would be here
    assert mallory.replies.qsize() == MESSAGES_PER_MINUTE


async def test_finished_and_abandoned_sessions_are_forgotten_and_the_stream_stays_up(
    app: App, prosody: ProsodyServer, login: Any
) -> None:
    alice = await login("alice")
    sessions = app.xmpp.plugin["xep_0050"].sessions
    assert app.supervisor is not None
    connections = app.supervisor.sessions

    iq = await Adhoc(alice, prosody.component).execute("hangup")  # completes at once
    assert status(iq) == "completed"
    assert sessions == {}

    abandoned = Adhoc(alice, prosody.component)
    await abandoned.execute("call")  # a form the user never submits
    assert len(sessions) == 1
    clock = [app.commands.adhoc._clock() + 3600]  # an hour later
    app.commands.adhoc._clock = lambda: clock[0]
    await Adhoc(alice, prosody.component).execute("hangup")
    assert sessions == {}
    with pytest.raises(IqError) as ended:
        await abandoned.act("next", number="1002")
    assert ended.value.iq["error"]["condition"] == "not-allowed"  # session-expired: gone, cleanly
    assert app.supervisor.online.is_set()
    assert app.supervisor.sessions == connections  # no reconnect: nothing sent from a user's JID
