"""Voicemail: leaving a message emits user_voicemail_message_created and lists it in calld."""

from __future__ import annotations

import io
import wave

import aiohttp

from tests.wazo_sim.helpers import BOB, EventStream, WazoHttp
from tests.wazo_specs import load_spec, requires_specs, spec_check
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


async def _recording(
    session: aiohttp.ClientSession, url: str, auth: str, **params: str
) -> tuple[int, str, bytes]:
    headers = {} if "token" in params else {"X-Auth-Token": auth}
    async with session.get(url, headers=headers, params=params) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def test_a_message_has_a_real_wav_recording_readable_by_the_owner_and_the_service(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    first = sim.leave_voicemail("bob", "1001", "Alice Anderson", 3)
    second = sim.leave_voicemail("bob", "1001", "Alice Anderson", 3)
    admin = await wazo.login("phonepresence")
    bob = await wazo.login("bob")
    box = f"{sim.url('calld')}/voicemails/102/messages"

    status, content_type, audio = await _recording(session, f"{box}/{first['id']}/recording", admin)
    assert (status, content_type) == (200, "audio/wav")
    with wave.open(io.BytesIO(audio)) as wav:
        # What Asterisk records: 8 kHz, 16-bit, mono, as long as the message says.
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        assert wav.getnframes() == 3 * 8000
        assert any(wav.readframes(100))  # not silence
    mine = f"{sim.url('calld')}/users/me/voicemails/messages/{first['id']}/recording"
    assert await _recording(session, mine, bob) == (200, "audio/wav", audio)
    assert await _recording(session, mine, "", token=bob) == (200, "audio/wav", audio)  # TokenID
    other = await _recording(session, f"{box}/{second['id']}/recording", admin)
    assert other[2] != audio  # each message its own recording

    # alice's token is not bob's mailbox; bob's token cannot use the administrators' route.
    alice = await wazo.login("alice")
    assert (await _recording(session, mine, alice))[0] == 404
    assert (await _recording(session, f"{box}/{first['id']}/recording", bob))[0] == 401
    assert (await _recording(session, f"{box}/nope/recording", admin))[0] == 404
    assert (await _recording(session, f"{sim.url('calld')}/voicemails/999/messages/x/recording", admin))[
        0
    ] == 404


async def test_read_moves_to_old_and_delete_removes_with_events(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    admin = await wazo.login("phonepresence")
    stream = await EventStream.open(
        session, sim, admin, ("user_voicemail_message_updated", "user_voicemail_message_deleted")
    )
    message = sim.leave_voicemail("bob", "1001", "Alice Anderson", 4)
    path = f"/voicemails/102/messages/{message['id']}"

    bob = await wazo.login("bob")
    got = await wazo.call("get", "calld", f"/users/me/voicemails/messages/{message['id']}", token=bob)
    assert (got.status, got.body["folder"]) == (200, {"id": 1, "name": "inbox", "type": "new"})
    box = await wazo.call("get", "calld", "/voicemails/102", token=admin)
    old = next(folder for folder in box.body["folders"] if folder["type"] == "old")
    assert [m["id"] for m in next(f for f in box.body["folders"] if f["type"] == "new")["messages"]] == [
        message["id"]
    ]

    moved = await wazo.call("put", "calld", path, token=admin, json_body={"folder_id": old["id"]})
    assert moved.status == 204
    event = await stream.event("user_voicemail_message_updated")
    assert (event["data"]["message_id"], event["data"]["message"]["folder"]["type"]) == (message["id"], "old")
    listed = await wazo.call("get", "calld", "/voicemails/messages", token=admin, params={"user_uuid": BOB})
    assert listed.body["items"][0]["folder"]["type"] == "old"
    bad = await wazo.call("put", "calld", path, token=admin, json_body={"folder_id": 77})
    assert (bad.status, bad.body["error_id"]) == (400, "no-such-voicemail-folder")
    wrong = await wazo.call("put", "calld", path, token=admin, json_body={"folder_id": "old"})
    assert (wrong.status, wrong.body["error_id"]) == (400, "invalid-data")

    # alice cannot touch bob's message through her own mailbox
    alice = await wazo.login("alice")
    refused = await wazo.call(
        "delete", "calld", f"/users/me/voicemails/messages/{message['id']}", token=alice
    )
    assert refused.status == 404
    deleted = await wazo.call("delete", "calld", path, token=admin)
    assert deleted.status == 204
    event = await stream.event("user_voicemail_message_deleted")
    assert event["data"]["message_id"] == message["id"]
    gone = await wazo.call("get", "calld", f"/users/me/voicemails/messages/{message['id']}", token=bob)
    assert (gone.status, gone.body["error_id"]) == (404, "no-such-voicemail-message")
    assert sim.state()["users"]["bob"]["voicemails"] == 0


@requires_specs
def test_the_simulated_recording_routes_are_wazo_s() -> None:
    spec = load_spec("wazo-calld")
    for path in (
        "/voicemails/102/messages/1-2/recording",
        "/users/me/voicemails/messages/1-2/recording",
    ):
        template = spec.find_template("get", path)
        assert template.endswith("/recording")
        produces = spec.document["paths"][template]["get"]["produces"]
        assert produces == ["audio/wav"]
