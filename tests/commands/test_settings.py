"""The Settings command over the wire (Prosody + component + Wazo simulator): chat text and the
ad-hoc form, validation notes, "my voicemail" refused without a box, one's own settings only,
and the settings kept in the store across a restart."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from rules.model import CallTarget, RuleSettings, Target
from tests.commands.harness import Adhoc, RecordingSimulator, fields, notes, status
from tests.commands.test_click_to_call import Chat
from tests.e2e.test_combined_presence import ALICE_UUID, BOB_UUID, e2e_config, ready
from tests.xmpp.appctl import running_app
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config

pytestmark = pytest.mark.server


def bob_without_voicemail() -> SimConfig:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    for user in raw["users"]:
        if user["username"] == "bob":
            user.pop("voicemail_id", None)
    return parse_config(raw)


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(bob_without_voicemail()) as simulator:
        yield simulator


@pytest.fixture
async def login(prosody: ProsodyServer) -> AsyncIterator[Any]:
    clients: list[ClientXMPP] = []

    async def connect(user: str) -> ClientXMPP:
        client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await disconnect_client(client)


async def test_settings_by_chat_and_form_validated_and_kept(
    prosody: ProsodyServer, sim: RecordingSimulator, login: Any, tmp_path: Path
) -> None:
    store = tmp_path / "state.sqlite"
    config = e2e_config(prosody, sim, store)
    async with running_app(config) as app:
        await ready(app)
        alice = await login("alice")
        chat = Chat(alice, prosody.component)
        assert await chat.say("settings") == (
            "Now: not in a meeting; your calls follow your own phone settings.\n"
            "During meetings: In a meeting shown on; calls go to nowhere (your phone rings as usual).\n"
            "When your chat status is Do not disturb: calls go to nowhere (your phone rings as usual).\n"
            "When you place a call: your main line rings first.\n"
            "Chat notices: missed calls on, incoming calls off.\n"
            "Change them with: meeting busy on|off, meeting calls nowhere|voicemail|<number>, "
            "dnd calls nowhere|voicemail|<number>, ring first main|all|mobile|line <number or name>, "
            "missed calls on|off, incoming calls on|off"
        )
        assert (await chat.say("meeting calls voicemail")).startswith(
            "Saved. During meetings: In a meeting shown on; calls go to your voicemail."
        )
        assert (await chat.say("dnd calls +33 1 23 45 67 89")).endswith(
            "When your chat status is Do not disturb: calls go to +33123456789."
        )
        assert (await chat.say("meeting busy off")).startswith(
            "Saved. During meetings: In a meeting shown off"
        )
        assert (await chat.say("dnd calls 1002")).endswith("calls go to 1002.")
        assert (await chat.say("dnd calls +33 1 23 AB")).startswith(
            "Sorry: When Do not disturb, number: +33 1 23 AB: contains letters"
        )
        assert (await chat.say("meeting busy maybe")).startswith(
            "Sorry: During meetings, show In a meeting: maybe is not one of: on, off"
        )
        assert (await chat.say("meeting sing")).startswith("Sorry: Say it like this: meeting busy on|off")
        expected = RuleSettings(
            meeting_busy=False,
            meeting_calls=CallTarget(Target.VOICEMAIL),
            dnd_calls=CallTarget(Target.NUMBER, "1002"),
        )
        assert app.settings.call_rules(ALICE_UUID) == expected
        assert app.settings.call_rules(BOB_UUID) == RuleSettings()  # only one's own

        # bob has no voicemail box on Wazo: "my voicemail" is refused with a note naming the field.
        bob = await login("bob")
        adhoc = Adhoc(bob, prosody.component)
        iq = await adhoc.execute("settings")
        assert set(fields(iq)) >= {
            "meeting_busy",
            "meeting_calls",
            "meeting_number",
            "dnd_calls",
            "dnd_number",
            "missed_calls",
            "incoming_calls",
        }
        iq = await adhoc.act(
            "complete", meeting_busy="on", meeting_calls="voicemail", dnd_calls="nowhere", meeting_number=""
        )
        assert status(iq) == "completed"
        assert notes(iq)[0][0] == "error"
        assert "no voicemail box" in notes(iq)[0][1]
        iq = await adhoc.execute("settings")
        iq = await adhoc.act(
            "complete", meeting_busy="on", meeting_calls="number", meeting_number="1001", dnd_calls="nowhere"
        )
        assert notes(iq)[0][0] == "info"
        assert app.settings.call_rules(BOB_UUID).meeting_calls == CallTarget(Target.NUMBER, "1001")

    async with running_app(config) as again:  # kept in the store
        assert again.settings.call_rules(ALICE_UUID) == expected
