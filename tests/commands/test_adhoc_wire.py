"""The ad-hoc answers written as raw XML, over the wire (real Prosody): whatever a name holds,
the answer is well-formed XML, so the server neither refuses it nor closes the component's stream."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, RecordingSimulator, fields, status
from tests.e2e.test_combined_presence import e2e_config, ready
from tests.xmpp.appctl import running_app
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config
from xmpp_component.app import App

pytestmark = pytest.mark.server

COMMANDS = "http://jabber.org/protocol/commands"


def control_character_world() -> SimConfig:
    """The demo world where bob's last name, as typed in Wazo, holds characters XML 1.0 forbids
    (a vertical tab and an escape, pasted from elsewhere)."""
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    for user in raw["users"]:
        if user["username"] == "bob":
            user["firstname"] = "Bob"
            user["lastname"] = "Br\x0bown\x1b"
    return parse_config(raw)


@pytest.fixture
async def sim() -> AsyncIterator[RecordingSimulator]:
    async with RecordingSimulator(control_character_world()) as simulator:
        yield simulator


@pytest.fixture
async def app(prosody: ProsodyServer, sim: RecordingSimulator, tmp_path: Path) -> AsyncIterator[App]:
    config = e2e_config(prosody, sim, tmp_path / "state.sqlite")
    async with running_app(config) as running:
        await ready(running)
        yield running


@pytest.fixture
async def alice(prosody: ProsodyServer) -> AsyncIterator[ClientXMPP]:
    client = await connect_client(f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port)
    yield client
    await disconnect_client(client)


async def test_a_name_with_characters_xml_forbids_gives_a_well_formed_answer(
    app: App, prosody: ProsodyServer, alice: ClientXMPP
) -> None:
    assert app.supervisor is not None
    connections = app.supervisor.sessions
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call")
    iq: Any = await adhoc.act("next", number="Bob")
    assert status(iq) == "executing"
    summary = str(fields(iq)["summary"]["value"])
    assert summary == "Call Bob Br\ufffdown\ufffd — 1002 (extension)?"
    assert app.supervisor.online.is_set()
    assert app.supervisor.sessions == connections  # the stream to the server stayed up


async def test_a_step_sent_twice_at_once_runs_once(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, alice: ClientXMPP
) -> None:
    """A client that sends "complete" again before the first answer (a double click, a resend)
    must not dial twice: the second request is refused while the first one runs."""
    adhoc = Adhoc(alice, prosody.component)
    await adhoc.execute("call")
    iq: Any = await adhoc.act("next", number="1002")
    assert set(iq["command"]["actions"]) == {"complete", "prev"}
    answers = await asyncio.gather(adhoc.act("complete"), adhoc.act("complete"), return_exceptions=True)
    completed = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, IqError)]
    assert [status(a) for a in completed] == ["completed"]
    assert len(refused) == 1
    assert len(sim.originations) == 1


def _app_condition(error: IqError) -> list[str]:
    """The XEP-0050 application-specific conditions of an error answer."""
    return [child.tag for child in error.iq["error"].xml if child.tag.startswith(f"{{{COMMANDS}}}")]


async def test_an_ended_or_unknown_session_and_an_unknown_action_get_the_xep_0050_errors(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, alice: ClientXMPP
) -> None:
    adhoc = Adhoc(alice, prosody.component)
    iq: Any = await adhoc.execute("hangup")  # completes at once: its session has ended
    assert status(iq) == "completed"
    for action in ("next", "cancel", "execute"):
        with pytest.raises(IqError) as ended:
            await adhoc.act(action, number="1002")
        assert ended.value.iq["error"]["condition"] == "not-allowed", action
        assert _app_condition(ended.value) == [f"{{{COMMANDS}}}session-expired"], action
    assert sim.originations == []
    assert app.xmpp.plugin["xep_0050"].sessions == {}  # an execute did not start a session instead

    await adhoc.execute("call")
    with pytest.raises(IqError) as unknown:
        await adhoc.act("jump")
    assert unknown.value.iq["error"]["condition"] == "bad-request"
    assert _app_condition(unknown.value) == [f"{{{COMMANDS}}}malformed-action"]
    iq = await adhoc.act("next", number="1002")  # the session is still there
    assert status(iq) == "executing"


def _execute_default(iq: Any) -> str | None:
    actions = iq["command"].xml.find(f"{{{COMMANDS}}}actions")
    return None if actions is None else actions.get("execute")


async def test_each_form_names_the_action_execute_stands_for(
    app: App, prosody: ProsodyServer, alice: ClientXMPP
) -> None:
    """XEP-0050 3.4: without an 'execute' attribute, "execute" means "next", which the last step
    does not offer; the attribute names one of the offered actions."""
    adhoc = Adhoc(alice, prosody.component)
    iq: Any = await adhoc.execute("call")
    assert set(iq["command"]["actions"]) == {"next"}
    assert _execute_default(iq) == "next"
    iq = await adhoc.act("next", number="1002")
    assert set(iq["command"]["actions"]) == {"complete", "prev"}
    assert _execute_default(iq) == "complete"


async def test_a_user_keeps_a_bounded_number_of_open_sessions(
    app: App, prosody: ProsodyServer, alice: ClientXMPP
) -> None:
    """Forms started and never finished are kept SESSION_TIMEOUT each: a client starting them in
    a loop must not grow the table without end. Beyond the bound, the user's oldest one ends."""
    from xmpp_component.commands.adhoc import MAX_OPEN_SESSIONS

    sessions = app.xmpp.plugin["xep_0050"].sessions
    started = [Adhoc(alice, prosody.component) for _ in range(MAX_OPEN_SESSIONS + 5)]
    for adhoc in started:
        await adhoc.execute("call")
    assert len(sessions) == MAX_OPEN_SESSIONS
    with pytest.raises(IqError) as ended:
        await started[0].act("next", number="1002")
    assert ended.value.iq["error"]["condition"] == "not-allowed"
    iq: Any = await started[-1].act("next", number="1002")  # the newest ones go on
    assert status(iq) == "executing"


async def test_an_action_the_step_does_not_offer_gets_bad_action_and_keeps_the_session(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, alice: ClientXMPP
) -> None:
    """XEP-0050 4.6: "prev" on the first step and "complete" on a step that offers only "next"
    are refused with bad-request + <bad-action/> (type modify); the session goes on."""
    adhoc = Adhoc(alice, prosody.component)
    iq: Any = await adhoc.execute("call")
    assert set(iq["command"]["actions"]) == {"next"}
    for action, values in (("prev", {}), ("complete", {"number": "1002"})):
        with pytest.raises(IqError) as refused:
            await adhoc.act(action, **values)
        error = refused.value.iq["error"]
        assert (error["type"], error["condition"]) == ("modify", "bad-request"), action
        assert _app_condition(refused.value) == [f"{{{COMMANDS}}}bad-action"], action
    assert sim.originations == []
    iq = await adhoc.act("next", number="1002")  # the session is still there, at its first step
    assert status(iq) == "executing"
    assert set(iq["command"]["actions"]) == {"complete", "prev"}


async def test_a_first_request_that_cancels_starts_nothing(
    app: App, prosody: ProsodyServer, sim: RecordingSimulator, alice: ClientXMPP
) -> None:
    """A cancel without a session has nothing to cancel: refused with <bad-action/>, and the
    command is not run (no form left open, nothing asked of the phone system)."""
    for node in ("hangup", "call"):
        with pytest.raises(IqError) as refused:
            await alice.plugin["xep_0050"].send_command(prosody.component, node, action="cancel", timeout=10)
        error = refused.value.iq["error"]
        assert (error["type"], error["condition"]) == ("modify", "bad-request"), node
        assert _app_condition(refused.value) == [f"{{{COMMANDS}}}bad-action"], node
    assert app.xmpp.plugin["xep_0050"].sessions == {}
    assert sim.originations == []
