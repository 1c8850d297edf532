"""Voicemail: leaving a message emits user_voicemail_message_created and lists it in calld."""

from __future__ import annotations

import aiohttp

from tests.wazo_sim.helpers import BOB, EventStream, WazoHttp
from tests.wazo_specs import spec_check
from wazo_sim.app import WazoSimulator


async def test_voicemail_event_and_listings(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    admin = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, admin, ("user_voicemail_message_created",))

    left = await session.post(
        f"{sim.base_url}/_sim/users/bob/voicemail",
        json={"from_number": "1001", "from_name": "Alice Anderson", "duration": 42},
    )
    assert left.status == 201

    event = await stream.event("user_voicemail_message_created")
    assert event["required_acl"] == f"events.users.{BOB}.voicemails"
    assert event[f"user_uuid:{BOB}"] is True
    data = event["data"]
    assert (data["user_uuid"], data["voicemail_id"]) == (BOB, 102)
    message = data["message"]
    assert message["id"] == data["message_id"]
    assert (message["caller_id_num"], message["caller_id_name"], message["duration"]) == (
        "1001",
        "Alice Anderson",
        42,
    )
    assert message["folder"]["type"] == "new"
    spec_check("wazo-calld").validate_definition("VoicemailMessage", message)

    mine = await wazo.call("get", "calld", "/users/me/voicemails/messages", token=await wazo.login("bob"))
    assert mine.body["total"] == 1
    assert mine.body["items"][0]["id"] == message["id"]

    tenant = await wazo.call("get", "calld", "/voicemails/messages", token=admin, params={"user_uuid": BOB})
    assert (tenant.body["total"], tenant.body["filtered"]) == (1, 1)
    assert tenant.body["items"][0]["transcribed"] is False
    nobody = await wazo.call("get", "calld", "/voicemails/messages", token=admin, params={"user_uuid": "x"})
    assert (nobody.body["total"], nobody.body["filtered"], nobody.body["items"]) == (1, 0, [])
