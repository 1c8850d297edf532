"""Call history and call notices over the wire: real Prosody, a real chat client, the component and
the Wazo simulator. Missed-call and incoming-call notices follow the user's settings (form and chat
text); a missed call that ends in a voicemail gives no missed-call notice; ``calls`` lists
incoming, outgoing, missed and voicemail calls; ``call back N`` dials the N-th; the history
survives a SIGKILL of the component process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.call_history import Outcome
from tests.commands.harness import BOB_MARTIN, Adhoc, RecordingSimulator, fields, notes, options, status
from tests.commands.test_click_to_call import Chat, origination
from tests.e2e.test_combined_presence import ALICE_UUID, SERVICE_PASSWORD, e2e_config, ready
from tests.xmpp.appctl import running_app, wait_until
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config
from xmpp_component.app import App
from xmpp_component.config import Config

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]


def world_with_a_mobile() -> SimConfig:
    """The demo world plus Bob Martin, whose mobile is +33 6 12 34 56 78 in Wazo."""
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["users"].append(dict(BOB_MARTIN))
    return parse_config(raw)


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(world_with_a_mobile()) as simulator:
        yield simulator


@pytest.fixture
async def login(prosody: ProsodyServer) -> AsyncIterator[Any]:
    clients: list[ClientXMPP] = []

    async def connect(user: str) -> ClientXMPP:
        client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
        clients.append(client)
        # Available, as a real client is: messages to the bare JID (the notices) reach it.
        client.send_presence()
        return client

    yield connect
    for client in clients:
        await disconnect_client(client)


def quick_config(prosody: ProsodyServer, sim: RecordingSimulator, store: Path) -> Config:
    config = e2e_config(prosody, sim, store)
    return replace(config, calls=replace(config.calls, missed_call_wait=0.5))


async def history_rows(app: App, count: int) -> list[Any]:
    """Alice's history once it has ``count`` rows and no missed-call notice is still held."""
    rows: list[Any] = []

    async def poll() -> None:
        nonlocal rows
        while True:
            rows = await app.history.recent(ALICE_UUID, 50)
            if len(rows) >= count and not app.history._pending:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), 10)
    return rows


def at(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M")


async def test_notices_follow_the_settings_and_calls_lists_and_calls_back(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    link = f"xmpp:{prosody.component}?command;node=call;number="
    async with running_app(quick_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)

        # Incoming-call notices are off by default: bob rings, alice answers; no message.
        sim.ring("alice", from_user="bob")
        sim.answer(user="alice")
        sim.hangup(user="alice")
        # Missed-call notices are on by default: an outside caller, nobody answers, no message left.
        sim.ring("alice", from_number="+33123456789", from_name="Dr Who")
        sim.no_answer(user="alice")
        rows = await history_rows(app, 2)
        assert [(r.outcome, r.number) for r in rows] == [
            (Outcome.MISSED, "+33123456789"),
            (Outcome.ANSWERED, "1002"),
        ]
        assert abs(rows[0].started_at - time.time()) < 30
        notice = await asyncio.wait_for(chat.replies.get(), 10)  # the first message alice gets
        assert notice == (
            f"Missed call from Dr Who (+33 1 23 45 67 89) at {at(rows[0].started_at)}\n"
            f"Call back: {link}%2B33123456789  (or type: call back 1)"
        )

        # Incoming-call notices turned on with the Settings form; the form shows both toggles.
        adhoc = Adhoc(chat.client, prosody.component)
        iq = await adhoc.execute("settings")
        form = fields(iq)
        assert (form["missed_calls"]["value"], form["incoming_calls"]["value"]) == ("on", "off")
        iq = await adhoc.act(
            "complete",
            meeting_busy="on",
            meeting_calls="nowhere",
            dnd_calls="nowhere",
            missed_calls="on",
            incoming_calls="on",
        )
        assert status(iq) == "completed"
        sim.ring("alice", from_user="bob")
        assert await asyncio.wait_for(chat.replies.get(), 10) == "Bob Brown (1002) is calling"
        # Nobody answers and bob leaves a voicemail: the call shows once, as a voicemail, and
        # there is no missed-call notice (the voicemail notice tells it).
        sim.no_answer(user="alice", message_seconds=9)
        rows = await history_rows(app, 3)
        assert [r.outcome for r in rows] == [Outcome.VOICEMAIL, Outcome.MISSED, Outcome.ANSWERED]
        voicemail = await asyncio.wait_for(chat.replies.get(), 10)
        assert voicemail.startswith("New voicemail from Bob Brown (1002), "), voicemail
        assert "(or type: call back 1)" in voicemail

        # The next missed call (no message) is the next notice: none came for bob's call before.
        # The PBX gives no name, only the number: the colleague's whose mobile it is in Wazo.
        sim.ring("alice", from_number="0612345678")
        assert await asyncio.wait_for(chat.replies.get(), 10) == "Bob Martin (+33 6 12 34 56 78) is calling"
        sim.no_answer(user="alice")
        rows = await history_rows(app, 4)
        assert await asyncio.wait_for(chat.replies.get(), 10) == (
            f"Missed call from Bob Martin (+33 6 12 34 56 78) at {at(rows[0].started_at)}\n"
            f"Call back: {link}%2B33612345678  (or type: call back 1)"
        )

        # Missed-call notices off by chat: a missed call only rings ("is calling"), nothing after.
        assert await chat.say("missed calls off") == (
            "Saved. Chat notices: missed calls off, incoming calls on."
        )
        assert await chat.say("missed calls maybe") == (
            "Sorry: Missed-call notices: maybe is not one of: on, off"
        )
        sim.ring("alice", from_user="carol")
        assert await asyncio.wait_for(chat.replies.get(), 10) == "Carol Clark (1003) is calling"
        sim.no_answer(user="alice")
        await history_rows(app, 5)
        # alice calls carol (outgoing, answered)
        assert (await chat.say("call 1003")).startswith("Calling 1003")
        sim.answer(user="alice")
        sim.answer(user="carol")
        sim.hangup(user="alice")
        rows = await history_rows(app, 6)

        # calls: newest first, with the call link of each number; the reply is the next message:
        # no notice came in between.
        listing = (await chat.say("calls")).splitlines()
        day = datetime.fromtimestamp(rows[0].started_at, UTC).strftime("%d %b")
        assert listing[0] == "Newest first. Pick one to call back: your own phone rings first."
        assert [line.split(f", {day} ")[0] for line in listing[1:7]] == [
            "1. Outgoing call to Carol Clark (1003)",
            "2. Missed call from Carol Clark (1003)",
            "3. Missed call from Bob Martin (+33 6 12 34 56 78)",
            "4. Voicemail from Bob Brown (1002)",
            "5. Missed call from Dr Who (+33 1 23 45 67 89)",
            "6. Incoming call from Bob Brown (1002)",
        ]
        assert listing[1].endswith(f"  {link}1003")
        assert listing[3].endswith(f"  {link}%2B33612345678")
        assert listing[7] == "Reply with a number from 1 to 6, or cancel."

        # call back 4 = the 4th row (bob's voicemail); call back alone = the newest caller (carol).
        assert (await chat.say("call back 4")).startswith("Calling Bob Brown (1002)")
        assert sim.originations[-1] == origination("1002")
        sim.hangup(user="alice")
        assert (await chat.say("call back")).startswith("Calling Carol Clark (1003)")
        assert sim.originations[-1] == origination("1003")
        sim.hangup(user="alice")
        await history_rows(app, 8)
        # The two calls back head the list now: Dr Who is the 7th. An outside number: the
        # simulated PBX has no outgoing route and refuses it, once dialled.
        assert await chat.say("call back 7") == (
            "Sorry: The phone system refused to dial +33 1 23 45 67 89 (dialled as +33123456789): "
            "it is not a number it can reach."
        )
        assert sim.originations[-1] == origination("+33123456789")
        await history_rows(app, 8)
        assert await chat.say("call back 9") == (
            "Sorry: There is no call 9 in your recent calls (you have 8; type calls)."
        )
        assert app.settings.notices(ALICE_UUID).incoming_calls

        # The ad-hoc forms: "Recent calls" and "Call back" list the same rows; one is called back.
        iq = await Adhoc(chat.client, prosody.component).execute("calls")
        listed = options(iq, "entry")
        assert [value for value, _label in listed] == [str(i) for i in range(1, 9)]
        assert listed[5][1].startswith("Voicemail from Bob Brown (1002), ")
        callback = Adhoc(chat.client, prosody.component)
        iq = await callback.execute("callback")
        assert options(iq, "entry") == listed
        iq = await callback.act("complete", entry="6")
        assert notes(iq)[0][1].startswith("Calling Bob Brown (1002)")
        assert sim.originations[-1] == origination("1002")
        sim.hangup(user="alice")


def cli_config(prosody: ProsodyServer, sim: RecordingSimulator, store: Path, path: Path) -> Path:
    path.write_text(
        f'[component]\njid = "{prosody.component}"\nserver_port = {prosody.component_port}\n'
        "reconnect_min_delay = 0.05\nreconnect_max_delay = 0.5\n"
        f'[store]\npath = "{store}"\n'
        f'[wazo]\nenabled = true\nbase_url = "{sim.base_url}"\nusername = "phonepresence"\n'
        "[ops]\nenabled = false\n[calls]\nmissed_call_wait = 0.0\n"
    )
    return path


async def test_the_history_survives_a_sigkill_and_a_restart(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    store = tmp_path / "state.sqlite"
    log = tmp_path / "component.log"
    env = {**prosody.environment_for_component(), "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD}
    env["PYTHONPATH"] = str(REPO)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xmpp_component.cli",
                "run",
                "--config",
                str(cli_config(prosody, sim, store, tmp_path / "pp.toml")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_until(
            lambda: "users provisioned from Wazo" in log.read_text() or process.poll() is not None,
            20,
            "the component process to read Wazo's users",
        )
        assert process.poll() is None, log.read_text()
        chat = Chat(await login("alice"), prosody.component)
        sim.ring("alice", from_user="bob")
        sim.no_answer(user="alice")
        notice = await asyncio.wait_for(chat.replies.get(), 10)
        assert notice.startswith("Missed call from Bob Brown (1002) at ")
        before = await chat.say("calls")
        assert before.splitlines()[1].startswith("1. Missed call from Bob Brown (1002), ")
    finally:
        process.kill()  # SIGKILL: no shutdown, nothing flushed on the way out
        process.wait(10)
    assert process.returncode == -9
    async with running_app(e2e_config(prosody, sim, store)) as app:
        await ready(app)
        assert await chat.say("calls") == before
        assert (await chat.say("call back 1")).startswith("Calling Bob Brown (1002)")
        assert sim.originations[-1] == origination("1002")


async def test_settings_typed_in_quick_succession_are_all_kept(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    # Each chat message is handled on its own task: three settings typed at once (or pasted) must
    # each be kept, in memory and in the store, and none undo another.
    async with running_app(quick_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        for text in ("missed calls off", "ring first all", "incoming calls on"):
            chat.client.send_message(mto=chat.component, mbody=text, mtype="chat")
        replies = [await asyncio.wait_for(chat.replies.get(), 10) for _ in range(3)]
        assert all(reply.startswith("Saved.") for reply in replies), replies
        notices = app.settings.notices(ALICE_UUID)
        assert (notices.missed_calls, notices.incoming_calls) == (False, True)
        assert app.settings.ring_first(ALICE_UUID).mode.value == "all"
        assert app.store is not None
        (stored,) = [
            json.loads(text) for _jid, uuid, text in await app.store.all_settings_rows() if uuid == ALICE_UUID
        ]
        assert stored["call_notices"] == {"missed_calls": False, "incoming_calls": True}
        assert stored["ring_first"] == {"mode": "all"}


async def test_the_voicemail_notice_names_the_row_of_its_caller_in_recent_calls(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    # Bob's unanswered call goes to voicemail; while he speaks, Carol's call is missed too. Bob's
    # message then comes: its row is his call (2nd, Carol's is newer), and the notice's "call
    # back N" must call Bob, not whoever called last.
    async with running_app(quick_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        sim.ring("alice", from_user="bob")
        sim.no_answer(user="alice")
        await history_rows(app, 1)
        await asyncio.sleep(0.05)  # carol's call starts later than bob's
        sim.ring("alice", from_user="carol")
        sim.no_answer(user="alice")
        await history_rows(app, 2)
        sim.leave_voicemail("alice", "1002", None, 20)
        notice = ""
        while not notice.startswith("New voicemail"):
            notice = await asyncio.wait_for(chat.replies.get(), 10)
        rows = await app.history.recent(ALICE_UUID, 5)
        assert [(r.number, r.outcome) for r in rows] == [
            ("1003", Outcome.MISSED),
            ("1002", Outcome.VOICEMAIL),
        ]
        assert "(or type: call back 2)" in notice, notice
        confirm = await chat.say("call back 2")
        assert "Bob Brown (1002)" in confirm, confirm


async def test_a_held_missed_call_notice_names_the_row_of_its_caller(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    # alice has a voicemail box: a missed-call notice waits (0.5 s here) for a voicemail. Carol's
    # call, missed meanwhile, is newer: bob's notice must say call back 2, carol's call back 1.
    async with running_app(quick_config(prosody, sim, tmp_path / "state.sqlite")) as app:
        await ready(app)
        chat = Chat(await login("alice"), prosody.component)
        sim.ring("alice", from_user="bob")
        sim.no_answer(user="alice")
        await asyncio.sleep(0.05)
        sim.ring("alice", from_user="carol")
        sim.no_answer(user="alice")
        notices = [await asyncio.wait_for(chat.replies.get(), 10) for _ in range(2)]
        by_caller = {notice.split(" at ")[0]: notice for notice in notices}
        assert by_caller["Missed call from Bob Brown (1002)"].endswith("(or type: call back 2)")
        assert by_caller["Missed call from Carol Clark (1003)"].endswith("(or type: call back 1)")
