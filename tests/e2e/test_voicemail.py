"""Voicemail in the chat, over the wire: a real Prosody (with offline storage), the component with
its [http] listener, the Wazo simulator leaving messages with real WAV recordings, real XMPP
clients reading the notices and running the Voicemail command, a real HTTP client opening links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from slixmpp import ClientXMPP

from devservers.net import free_port
from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, RecordingSimulator, fields, notes, options, status
from tests.e2e.test_combined_presence import SERVICE_PASSWORD, ready
from tests.xmpp.appctl import component_config, running_app, wait_until
from xmpp_component.app import App
from xmpp_component.config import Config
from xmpp_component.voicemail_text import time_text

pytestmark = pytest.mark.server

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
LINK_KEY = "voicemail-link-key-for-tests-0123456789"
# The company's time zone (calendar.timezone), on purpose not the host's: notices, the Voicemail
# command and the call history all tell times in it (UTC+14: no test machine runs in it).
ZONE = "Pacific/Kiritimati"


def at(timestamp: int) -> str:
    return time_text(timestamp, ZoneInfo(ZONE))


OOB = "{jabber:x:oob}"


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """This module's own Prosody, with mod_offline (the test server elsewhere has it off)."""
    server = ProsodyServer(tmp_path_factory.mktemp("prosody-offline"), offline_storage=True)
    server.start()  # a server that cannot start fails the tests
    try:
        server.register_users()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator() as simulator:
        yield simulator


def voicemail_config(server: ProsodyServer, sim: RecordingSimulator, store: Path, port: int) -> Config:
    return component_config(
        server,
        store,
        wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
        presence={"privilege_grace": 0.3},
        calendar={"timezone": ZONE},
        http={"enabled": True, "port": port, "public_base_url": f"http://127.0.0.1:{port}/"},
        env={"PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD, "PHONEPRESENCE_HTTP_LINK_KEY": LINK_KEY},
    )


@pytest.fixture
async def app(prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path) -> AsyncIterator[App]:
    async with running_app(voicemail_config(prosody, sim, tmp_path / "state.sqlite", free_port())) as running:
        await ready(running)
        await wait_until(lambda: running.wazo is not None and running.wazo.events is not None, 10, "Wazo")
        assert running.wazo is not None
        assert running.wazo.events is not None
        await asyncio.wait_for(running.wazo.events.synced.wait(), 10)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Inbox:
    """The chat messages one client receives from the component."""

    def __init__(self, client: ClientXMPP, component: str) -> None:
        self.messages: list[Any] = []
        client.add_event_handler(
            "message", lambda msg: self.messages.append(msg) if msg["from"].bare == component else None
        )

    async def next(self, starting: str, timeout: float = 10.0) -> Any:
        await wait_until(
            lambda: any(m["body"].startswith(starting) for m in self.messages),
            timeout,
            f"a {starting!r} message",
        )
        found = next(m for m in self.messages if m["body"].startswith(starting))
        self.messages.remove(found)
        return found


def oob_url(msg: Any) -> str:
    return str(msg.xml.findtext(f"{OOB}x/{OOB}url") or "")


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with http.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def refused(http: aiohttp.ClientSession, url: str) -> bool:
    """403 with an empty body: nothing says whether the message exists or whose it is."""
    status, _type, body = await fetch(http, url)
    return (status, body) == (403, b"")


def recording_of(sim: RecordingSimulator, owner: str, message_id: str) -> bytes:
    return sim.core.state.voicemail_message(owner, message_id).recording


async def say(client: ClientXMPP, inbox: Inbox, component: str, text: str, reply_start: str) -> str:
    client.send_message(mto=component, mbody=text, mtype="chat")
    return str((await inbox.next(reply_start))["body"])


async def test_notice_link_and_call_back(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, http: aiohttp.ClientSession
) -> None:
    alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    try:
        inbox = Inbox(alice, prosody.component)
        alice.send_presence()  # online: a message to her bare JID reaches this session
        # The PBX's caller-ID name is not what the directory says: the directory's name is shown.
        left = sim.leave_voicemail("alice", "1002", "BROWN B", 3)
        notice = await inbox.next("New voicemail")
        assert notice["type"] == "chat"
        url = oob_url(notice)
        assert url.startswith(f"http://127.0.0.1:{app.config.http.port}/voicemail/{left['id']}.wav?")
        assert str(notice["body"]).splitlines() == [
            f"New voicemail from Bob Brown (1002), {at(left['timestamp'])}, 0:03.",
            f"Listen: {url}",
            f"Call back: xmpp:{prosody.component}?command;node=call;number=1002  (or type: call back 1)",
            "Type voicemail to list, mark read or delete your messages.",
        ]
        assert notice.xml.findtext(f"{OOB}x/{OOB}desc") == (
            f"Voicemail from Bob Brown (1002), {at(left['timestamp'])}"
        )

        # The link plays the recording: exactly the simulator's bytes, as audio.
        assert await fetch(http, url) == (200, "audio/wav", recording_of(sim, ALICE, left["id"]))

        # Tampered, someone else's, expired: 403 and an empty body, whatever the reason.
        split = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        signature = query["s"]
        tampered = {**query, "s": ("A" if signature[0] != "A" else "B") + signature[1:]}
        longer = {**query, "e": str(int(query["e"]) + 86400)}
        as_bob = {**query, "u": BOB}
        assert app.voicemail_http is not None
        bobs_message = sim.leave_voicemail("bob", "1001", None, 2)
        bob_link = app.voicemail_http.link(bobs_message["id"], BOB)
        alice_claims_bobs = app.voicemail_http.link(bobs_message["id"], ALICE)  # signed, not hers
        bare = f"{split.scheme}://{split.netloc}{split.path}"
        for bad in (
            f"{bare}?{urlencode(tampered)}",
            f"{bare}?{urlencode(longer)}",
            f"{bare}?{urlencode(as_bob)}",
            bare,
            alice_claims_bobs,
        ):
            assert await refused(http, bad), bad
        assert (await fetch(http, bob_link))[2] == recording_of(sim, BOB, bobs_message["id"])
        real_clock = app.voicemail_http.signer.clock
        app.voicemail_http.signer.clock = lambda: real_clock() + 7 * 86400 + 1  # a week later
        assert await refused(http, url)
        app.voicemail_http.signer.clock = real_clock
        assert (await fetch(http, url))[0] == 200

        # "call back 1" calls the voicemail's caller: alice's phone first, then 1002.
        reply = await say(alice, inbox, prosody.component, "call back 1", "Calling")
        assert reply.startswith("Calling Bob Brown (1002): your phone (alice-desk) rings first")
        assert [o["destination"]["extension"] for o in sim.originations] == ["1002"]
        reply = await say(alice, inbox, prosody.component, "call back 7", "Sorry")
        assert reply == "Sorry: There is no call 7 in your recent calls (you have 1; type calls)."
    finally:
        await disconnect_client(alice)


async def test_a_user_offline_when_the_voicemail_arrives_gets_the_notice_at_next_login(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, http: aiohttp.ClientSession
) -> None:
    assert app.voicemail_notices.sent == 0
    left = sim.leave_voicemail("bob", "+33612345678", "Dr Who", 65)
    await wait_until(lambda: app.voicemail_notices.sent == 1, 10, "the notice sent while bob is offline")
    bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
    try:
        inbox = Inbox(bob, prosody.component)
        bob.send_presence()  # available: the server now delivers what it kept
        notice = await inbox.next("New voicemail from Dr Who")
        assert str(notice["body"]).startswith(
            f"New voicemail from Dr Who (+33 6 12 34 56 78), {at(left['timestamp'])}, 1:05."
        )
        assert notice.xml.find("{urn:xmpp:delay}delay") is not None  # it was stored, then delivered
        assert (await fetch(http, oob_url(notice)))[2] == recording_of(sim, BOB, left["id"])
    finally:
        await disconnect_client(bob)


async def test_the_voicemail_command_lists_marks_read_and_deletes_only_one_s_own_messages(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, http: aiohttp.ClientSession
) -> None:
    alice = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    component = prosody.component
    try:
        inbox = Inbox(alice, component)
        alice.send_presence()
        older = sim.leave_voicemail("alice", "1002", None, 3)
        newer = sim.leave_voicemail("alice", "+33612345678", "Dr Who", 65)
        bobs = sim.leave_voicemail("bob", "1001", None, 2)
        await inbox.next("New voicemail from Bob Brown")
        await inbox.next("New voicemail from Dr Who")
        link = f"xmpp:{component}?command;node=call;number="
        at_older, at_newer = at(older["timestamp"]), at(newer["timestamp"])

        assert (await say(alice, inbox, component, "voicemail", "")).splitlines() == [
            "2 new, 0 old, newest first. Pick one; in a chat you can also type: voicemail listen N, "
            "voicemail call N, voicemail read N, voicemail delete N.",
            f"1. New: Dr Who (+33 6 12 34 56 78), {at_newer}, 1:05  {link}%2B33612345678",
            f"2. New: Bob Brown (1002), {at_older}, 0:03  {link}1002",
            "Reply with a number from 1 to 2, or cancel.",
        ]
        await say(alice, inbox, component, "cancel", "Cancelled")

        # Mark read: calld moves it to the "old" folder.
        assert await say(alice, inbox, component, "voicemail read 2", "") == (
            f"Marked read: voicemail from Bob Brown (1002), {at_older}."
        )
        assert sim.core.state.voicemail_message(ALICE, older["id"]).folder_id == 2
        listing = (await say(alice, inbox, component, "voicemail", "")).splitlines()
        assert listing[0].startswith("1 new, 1 old, newest first.")
        assert listing[2] == f"2. Old: Bob Brown (1002), {at_older}, 0:03  {link}1002"
        await say(alice, inbox, component, "cancel", "Cancelled")
        assert await say(alice, inbox, component, "voicemail read 2", "") == (
            f"Already read: voicemail from Bob Brown (1002), {at_older}."
        )

        # Call back from the list: alice's phone rings first, then 1002.
        reply = await say(alice, inbox, component, "voicemail call 2", "")
        assert reply.startswith("Calling Bob Brown (1002): your phone (alice-desk) rings first")
        assert sim.originations[-1]["destination"]["extension"] == "1002"
        sim.hangup(user="alice")

        # Listen: the signed link, which plays that recording.
        reply = await say(alice, inbox, component, "voicemail listen 1", "")
        prefix = f"Listen to the voicemail from Dr Who (+33 6 12 34 56 78), {at_newer}: "
        assert reply.startswith(prefix)
        assert (await fetch(http, reply[len(prefix) :]))[2] == recording_of(sim, ALICE, newer["id"])

        # Delete, and a number that is not in the list.
        assert await say(alice, inbox, component, "voicemail delete 1", "") == (
            f"Deleted: voicemail from Dr Who (+33 6 12 34 56 78), {at_newer}."
        )
        assert [m["id"] for m in sim.core.state.voicemail_messages(ALICE)] == [older["id"]]
        assert await say(alice, inbox, component, "voicemail delete 5", "") == (
            "Sorry: There is no message 5: you have 1 (type voicemail to see them)."
        )

        # Ad-hoc: bob's message id forged into alice's form is refused, nothing is done.
        adhoc = Adhoc(alice, component)
        iq = await adhoc.execute("voicemail")
        assert options(iq, "message") == [(older["id"], f"Old: Bob Brown (1002), {at_older}, 0:03")]
        iq = await adhoc.act("next", message=bobs["id"])
        assert (status(iq), notes(iq)) == ("executing", [("error", "Message: pick one of your messages")])
        assert [m["id"] for m in sim.core.state.voicemail_messages(BOB)] == [bobs["id"]]
        iq = await adhoc.act("next", message=older["id"])
        assert fields(iq)["summary"]["value"] == f"Old: Bob Brown (1002), {at_older}, 0:03"
        assert [value for value, _label in options(iq, "do")] == ["listen", "call", "read", "delete"]
        iq = await adhoc.act("complete", do="delete")
        assert (status(iq), notes(iq)) == (
            "completed",
            [("info", f"Deleted: voicemail from Bob Brown (1002), {at_older}.")],
        )
        assert sim.core.state.voicemail_messages(ALICE) == []
        assert [m["id"] for m in sim.core.state.voicemail_messages(BOB)] == [bobs["id"]]
        iq = await Adhoc(alice, component).execute("voicemail")
        assert notes(iq) == [("info", "You have no voicemail messages.")]
    finally:
        await disconnect_client(alice)
