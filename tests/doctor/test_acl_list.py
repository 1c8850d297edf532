"""The service account's ACL list is declared once (presence/sources/wazo/acl.py): it matches the
ACLs Wazo's OpenAPI files require for each call, covers every subscribed event, is enough for
everything the component does (checked against the simulator, which enforces ACLs per token),
and the README copy is the generated one."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from presence.model import PhoneEvent, VoicemailReceived
from presence.sources.wazo.acl import (
    EVENT_NEEDS,
    REST_NEEDS,
    WEBSOCKET_ACL,
    render_acl_table_markdown,
    render_policy_command,
    required_acls,
)
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.parsing import SUBSCRIBED_EVENTS
from tests.wazo_client.sim_driver import SERVICE_PASSWORD, SERVICE_USERNAME
from tests.wazo_client.test_against_simulator import sim_settings
from tests.wazo_specs import load_spec, requires_specs
from tests.xmpp.appctl import wait_until
from wazo_sim.acl import AccessCheck
from wazo_sim.app import WazoSimulator
from wazo_sim.config import DEMO_USERS_FILE, SimConfig, parse_config

README = Path(__file__).resolve().parents[2] / "README.md"
ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"


def world_with_service_acl(acl: tuple[str, ...] | list[str]) -> SimConfig:
    """The demo world whose service account holds exactly ``acl``."""
    import tomllib

    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    raw["service_accounts"][0]["acl"] = list(acl)
    return parse_config(raw)


def spec_acl(service: str, method: str, path: str) -> str:
    description = load_spec(f"wazo-{service}").operation(method, path).get("description", "")
    found = re.search(r"\*\*Required ACL:\*\* `([^`]+)`", description)
    assert found, f"{service} {method} {path}: no Required ACL in the spec"
    return re.sub(r"\{[^}]+\}", "*", found.group(1))


@requires_specs
@pytest.mark.parametrize("need", REST_NEEDS, ids=lambda n: f"{n.service} {n.method} {n.path}")
def test_each_rest_acl_is_the_one_the_openapi_file_requires(need: Any) -> None:
    assert need.acl == spec_acl(need.service, need.method, need.path)


def test_every_subscribed_event_has_exactly_one_acl() -> None:
    covered = [name for need in EVENT_NEEDS for name in need.events]
    assert sorted(covered) == sorted(SUBSCRIBED_EVENTS)


def test_the_list_has_no_duplicates_and_starts_with_websocketd() -> None:
    acls = required_acls()
    assert acls[0] == WEBSOCKET_ACL
    assert len(acls) == len(set(acls)) == 1 + len(EVENT_NEEDS) + len(REST_NEEDS)


def test_readme_acl_table_and_policy_command_match_the_code() -> None:
    readme = README.read_text(encoding="utf-8")
    assert render_acl_table_markdown() in readme
    assert render_policy_command() in readme


def test_events_reach_a_token_with_exactly_these_acls() -> None:
    # The required_acl of each event, as Wazo fills it for one user (wazo-api.md §4, §7.3).
    check = AccessCheck(required_acls(), auth_id="service-account")
    for sample in (
        f"events.chatd.users.{ALICE}.presences.updated",
        f"events.calls.{ALICE}",
        f"events.config.users.{ALICE}.services.dnd.updated",
        f"events.users.{ALICE}.voicemails",
    ):
        assert check.matches(sample), sample


async def test_everything_the_component_does_works_with_exactly_these_acls() -> None:
    received: list[PhoneEvent] = []

    async def sink(event: PhoneEvent) -> None:
        received.append(event)

    world = world_with_service_acl(required_acls())
    async with WazoSimulator(world) as sim:
        settings = sim_settings(sim)
        assert (settings.username, settings.password.reveal()) == (SERVICE_USERNAME, SERVICE_PASSWORD)
        async with WazoClient(settings, sink) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 5)
            users = await wazo.confd.list_users()
            assert {u.uuid for u in users} >= {ALICE, BOB}
            alice = await wazo.confd.get_user(ALICE)
            assert alice.main_line is not None
            call = await wazo.calld.originate(
                ALICE, "1002", alice.main_line.context, line_id=alice.main_line.id
            )
            assert [c.call_id for c in await wazo.calld.list_user_calls(ALICE)] == [call.call_id]
            await wazo.calld.hangup(call.call_id)
            sim.set_dnd("carol", True)
            sim.leave_voicemail("bob", "+33612345678")
            await wait_until(
                lambda: any(isinstance(e, VoicemailReceived) for e in received), 5, "voicemail event"
            )
            [message] = await wazo.calld.user_voicemail_messages(BOB)
            assert message.voicemail_id is not None
            async with wazo.calld.voicemail_recording(message.voicemail_id, message.message_id) as audio:
                assert (await audio.content.read(4)) == b"RIFF"
            old = await wazo.calld.old_folder_id(message.voicemail_id)
            await wazo.calld.move_voicemail_message(message.voicemail_id, message.message_id, old)
            await wazo.calld.delete_voicemail_message(message.voicemail_id, message.message_id)
            assert await wazo.calld.user_voicemail_messages(BOB) == []
            assert await wazo.chatd.list_presences()
            names = {type(e).__name__ for e in received}
            assert {"CallEvent", "VoicemailReceived", "PhoneSnapshot", "DndChanged"} <= names
