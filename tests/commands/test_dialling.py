"""calls.dial_format / calls.outgoing_prefix over the wire: a real Prosody, alice's chat client and
ad-hoc commands, and the Wazo simulator whose "default" context only lets out the numbers its
outgoing routes match (Asterisk patterns, as a typical French Wazo: 0 + 9 digits, 00 abroad)."""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from presence.phone_numbers import DialFormat, DialPlan, parse_number
from tests.commands.harness import Adhoc, RecordingSimulator, fields, notes, status
from tests.commands.test_click_to_call import Chat, origination
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.xmpp.appctl import running_app
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config
from xmpp_component.config import ConfigError
from xmpp_component.config import parse_config as parse_component_config
from xmpp_component.logs import setup_logging

pytestmark = pytest.mark.server


def world_with_outcalls(*patterns: str) -> SimConfig:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["outcalls"] = [{"context": "default", "patterns": list(patterns)}]
    return parse_config(raw)


@pytest.fixture
async def alice(prosody: ProsodyServer) -> AsyncIterator[Any]:
    client = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    yield client
    await disconnect_client(client)


def config_for(prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path, **calls: Any) -> Any:
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    return type(config)(**{**config.__dict__, "calls": type(config.calls)(**calls)})


async def test_e164_is_refused_by_a_national_context_and_national_goes_out(
    prosody: ProsodyServer, alice: Any, tmp_path: Path
) -> None:
    async with RecordingSimulator(world_with_outcalls("_0XXXXXXXXX", "_00X.")) as sim:
        # The default (E.164) does not match the context's outgoing routes: calld refuses it.
        async with running_app(config_for(prosody, sim, tmp_path)) as app:
            await ready(app)
            chat = Chat(alice, prosody.component)
            assert await chat.say("call +33 1 23 45 67 89") == (
                "Sorry: The phone system refused to dial +33 1 23 45 67 89 (dialled as +33123456789): "
                "it is not a number it can reach."
            )
        async with running_app(config_for(prosody, sim, tmp_path, dial_format="national")) as app:
            await ready(app)
            chat = Chat(alice, prosody.component)
            reply = await chat.say("call +33 1 23 45 67 89")
            assert reply.splitlines()[0] == (
                "Calling +33 1 23 45 67 89, dialled as 0123456789: your phone (alice-desk) rings first; "
                "the call goes out when you pick up."
            )
            assert sim.originations[-1] == origination("0123456789")
            sim.answer(user="alice")  # alice picks up: the trunk dials out
            leg = sim.state()["users"]["alice"]["calls"][0]
            assert (leg["status"], leg["direction"], leg["peer_caller_id_number"]) == (
                "Ring",
                "outbound",
                "0123456789",
            )
            sim.hangup(user="alice")
            # abroad: the international access code of the region (00 from France)
            reply = await chat.say("call +44 20 7946 0958")
            assert reply.startswith("Calling +44 20 7946 0958, dialled as 00442079460958:")
            assert sim.originations[-1]["destination"]["extension"] == "00442079460958"
            sim.hangup(user="alice")
            # extensions are never rewritten
            assert (await chat.say("call 1002")).startswith("Calling 1002: your phone")
            assert sim.originations[-1] == origination("1002")


async def test_outgoing_prefix_in_the_call_form(prosody: ProsodyServer, alice: Any, tmp_path: Path) -> None:
    async with RecordingSimulator(world_with_outcalls("_00XXXXXXXXX", "_000X.", "_0033X.")) as sim:
        config = config_for(prosody, sim, tmp_path, dial_format="national", outgoing_prefix="0")
        async with running_app(config) as app:
            await ready(app)
            adhoc = Adhoc(alice, prosody.component)
            await adhoc.execute("call")
            iq = await adhoc.act("next", number="01 23 45 67 89")
            assert (
                fields(iq)["summary"]["value"] == "Call +33 1 23 45 67 89 (number), dialled as 00123456789?"
            )
            iq = await adhoc.act("complete")
            assert status(iq) == "completed"
            assert notes(iq) == [
                (
                    "info",
                    "Calling +33 1 23 45 67 89, dialled as 00123456789: your phone (alice-desk) rings first; "
                    "the call goes out when you pick up.",
                )
            ]
            assert sim.originations[-1] == origination("00123456789")
            sim.hangup(user="alice")
        config = config_for(prosody, sim, tmp_path, dial_format="e164_no_plus", outgoing_prefix="00")
        async with running_app(config) as app:
            await ready(app)
            iq = await Adhoc(alice, prosody.component).execute("call", number="+33 1 23 45 67 89")
            assert (
                fields(iq)["summary"]["value"] == "Call +33 1 23 45 67 89 (number), dialled as 0033123456789?"
            )


@pytest.mark.parametrize(
    ("fmt", "prefix", "home", "abroad"),
    [
        (DialFormat.E164, "", "+33123456789", "+442079460958"),
        (DialFormat.E164_NO_PLUS, "", "33123456789", "442079460958"),
        (DialFormat.E164_NO_PLUS, "0", "033123456789", "0442079460958"),
        (DialFormat.NATIONAL, "", "0123456789", "00442079460958"),
        (DialFormat.NATIONAL, "0", "00123456789", "000442079460958"),
    ],
)
def test_dial_plan(fmt: DialFormat, prefix: str, home: str, abroad: str) -> None:
    plan = DialPlan(fmt, "FR", prefix)
    assert plan.pbx_number(parse_number("01 23 45 67 89", "FR")) == home
    assert plan.pbx_number(parse_number("+44 20 7946 0958", "FR")) == abroad
    assert plan.pbx_number(parse_number("1002", "FR")) == "1002"


def test_national_from_the_united_states() -> None:
    plan = DialPlan(DialFormat.NATIONAL, "US")
    assert plan.pbx_number(parse_number("(201) 555-0123", "US")) == "12015550123"
    assert plan.pbx_number(parse_number("+33 1 23 45 67 89", "US")) == "01133123456789"


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ({"dial_format": "local"}, 'calls.dial_format: expected one of "e164", "e164_no_plus", "national"'),
        ({"outgoing_prefix": "0a"}, "calls.outgoing_prefix: expected digits (and * #)"),
        ({"outgoing_prefix": "0"}, 'calls.outgoing_prefix: expected "" with calls.dial_format = "e164"'),
    ],
)
def test_dialling_keys_are_checked(calls: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_component_config(
            {"component": {"jid": "phone.example.org"}, "calls": calls},
            {"PHONEPRESENCE_COMPONENT_SECRET": "s"},
        )
    assert str(raised.value).startswith(message)


async def test_the_dialled_number_and_the_caller_are_masked_in_the_log(
    prosody: ProsodyServer, alice: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    async with RecordingSimulator(world_with_outcalls("_0XXXXXXXXX")) as sim:
        config = config_for(prosody, sim, tmp_path, dial_format="national")
        setup_logging("info", [config.component_secret], "json", config.logging.personal_data)
        try:
            async with running_app(config) as app:
                await ready(app)
                chat = Chat(alice, prosody.component)
                assert (await chat.say("call 01 23 45 67 89")).startswith(
                    "Calling +33 1 23 45 67 89, dialled as"
                )
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records if r["logger"] == "xmpp_component.commands.dialing"]
    assert messages == ["a***@example.test calls ********89"]
    everything = "\n".join(r["message"] for r in records)
    assert "0123456789" not in everything
    assert "alice@example.test" not in everything
