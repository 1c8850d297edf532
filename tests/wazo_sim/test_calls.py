"""calld call life-cycle: originate rings the caller first, then the callee; answer, hold, hang up."""

from __future__ import annotations

import tomllib
from typing import Any

import aiohttp

from tests.wazo_sim.helpers import ALICE, BOB, EventStream, WazoHttp
from tests.wazo_specs import spec_check
from wazo_sim.app import WazoSimulator
from wazo_sim.config import DEMO_USERS_FILE, parse_config


def _originate_body(user: str = ALICE, extension: str = "1002") -> dict[str, Any]:
    return {
        "source": {"user": user},
        "destination": {"extension": extension, "context": "default", "priority": 1},
    }


def _line_states(sim: WazoSimulator) -> dict[str, str]:
    return {name: user["line_state"] for name, user in sim.state()["users"].items()}


async def _admin_stream(wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator) -> EventStream:
    names = ("call_created", "call_updated", "call_answered", "call_ended", "call_held", "call_resumed")
    return await EventStream.open(session, sim, await wazo.login("phonepresence"), names)


def _check_call_event(body: dict[str, Any]) -> None:
    """Call events carry a full calld Call object (reference §7.2)."""
    spec_check("wazo-calld").validate_definition("Call", body["data"])


async def test_click_to_call_life_cycle(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await _admin_stream(wazo, session, sim)
    body = _originate_body()
    spec_check("wazo-calld").validate_request("post", "/calls", body)

    created = await wazo.call("post", "calld", "/calls", token=token, json_body=body)

    # 1. Alice's own phone rings first.
    assert created.status == 201
    alice_call = created.body["call_id"]
    assert created.body["user_uuid"] == ALICE
    assert created.body["status"] == "Ringing"
    assert created.body["is_caller"] is True
    assert created.body["peer_caller_id_number"] == "1002"
    event = await stream.event("call_created", user_uuid=ALICE)
    _check_call_event(event)
    assert event["required_acl"] == f"events.calls.{ALICE}"
    assert _line_states(sim) == {"alice": "ringing", "bob": "available", "carol": "available"}

    # 2. Alice answers: Bob's phone rings, Alice's leg progresses.
    sim.answer(call_id=alice_call)
    updated = await stream.event("call_updated", user_uuid=ALICE)
    assert updated["data"]["status"] == "Ring"
    bob_created = await stream.event("call_created", user_uuid=BOB)
    _check_call_event(bob_created)
    bob_call = bob_created["data"]["call_id"]
    assert bob_created["data"]["status"] == "Ringing"
    assert bob_created["data"]["caller_id_number"] == "1001"
    assert bob_created["data"]["conversation_id"] == alice_call
    assert _line_states(sim) == {"alice": "progressing", "bob": "ringing", "carol": "available"}

    # 3. Bob answers: both talk, each leg talking to the other.
    sim.answer(user="bob")
    answered = {(await stream.event("call_answered"))["data"]["user_uuid"] for _ in range(2)}
    assert answered == {ALICE, BOB}
    listed = await wazo.call("get", "calld", "/calls", token=token)
    by_user = {call["user_uuid"]: call for call in listed.body["items"]}
    assert by_user[ALICE]["status"] == by_user[BOB]["status"] == "Up"
    assert by_user[ALICE]["talking_to"] == {bob_call: BOB}
    assert by_user[BOB]["talking_to"] == {alice_call: ALICE}
    assert by_user[ALICE]["bridges"] == by_user[BOB]["bridges"]
    assert _line_states(sim) == {"alice": "talking", "bob": "talking", "carol": "available"}

    # 4. Bob hangs up: both legs end.
    hung = await wazo.call("delete", "calld", f"/calls/{bob_call}", token=token)
    assert hung.status == 204
    ended = [await stream.event("call_ended") for _ in range(2)]
    assert {e["data"]["user_uuid"] for e in ended} == {ALICE, BOB}
    assert all(e["data"]["reason_code"] == 16 for e in ended)
    assert all(e["data"]["hangup_time"] for e in ended)
    assert (await wazo.call("get", "calld", "/calls", token=token)).body == {"items": []}
    assert _line_states(sim) == {"alice": "available", "bob": "available", "carol": "available"}


async def test_user_originates_with_own_token(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("alice")
    body = {"extension": " 1003 "}
    spec_check("wazo-calld").validate_request("post", "/users/me/calls", body)

    created = await wazo.call("post", "calld", "/users/me/calls", token=token, json_body=body)

    assert created.status == 201
    assert created.body["user_uuid"] == ALICE
    assert created.body["dialed_extension"] == "1003"
    mine = await wazo.call("get", "calld", "/users/me/calls", token=token)
    assert [call["call_id"] for call in mine.body["items"]] == [created.body["call_id"]]
    hung = await wazo.call("delete", "calld", f"/users/me/calls/{created.body['call_id']}", token=token)
    assert hung.status == 204
    assert sim.state()["users"]["alice"]["calls"] == []


async def test_user_cannot_hang_up_someone_elses_call(wazo: WazoHttp, sim: WazoSimulator) -> None:
    bobs = sim.ring("bob", from_number="0612345678")["call_id"]
    token = await wazo.login("alice")

    refused = await wazo.call("delete", "calld", f"/users/me/calls/{bobs}", token=token)

    assert refused.status == 403
    assert refused.body["error_id"] == "user-permission-denied"
    assert len(sim.state()["users"]["bob"]["calls"]) == 1


async def test_originate_errors(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")

    unknown = await wazo.call(
        "post", "calld", "/calls", token=token, json_body=_originate_body(extension="9999")
    )
    assert unknown.status == 400
    assert unknown.body["error_id"] == "invalid-extension"

    sim.set_registered("alice", False)
    offline = await wazo.call("post", "calld", "/calls", token=token, json_body=_originate_body())
    assert offline.status == 400
    assert offline.body["error_id"] == "call-origin-unavailable"

    invalid = await wazo.call("post", "calld", "/calls", token=token, json_body={"source": {"user": ALICE}})
    assert invalid.status == 400
    assert invalid.body["error_id"] == "invalid-data"
    assert "destination" in invalid.body["details"]

    missing = await wazo.call("get", "calld", "/calls/123.456", token=token)
    assert missing.status == 404
    assert missing.body["error_id"] == "no-such-call"
    assert (await wazo.call("delete", "calld", "/calls/123.456", token=token)).status == 404
    assert sim.state()["users"]["alice"]["calls"] == []


async def test_user_token_cannot_use_admin_routes(wazo: WazoHttp) -> None:
    token = await wazo.login("alice")
    refused = await wazo.call("post", "calld", "/calls", token=token, json_body=_originate_body())
    assert refused.status == 401
    assert refused.body["error_id"] == "unauthorized"


async def test_hold_and_resume(wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    stream = await _admin_stream(wazo, session, sim)
    call_id = sim.ring("carol", from_number="+33 1 23 45 67 89", from_name="Dave")["call_id"]
    sim.answer(call_id=call_id)

    assert (await wazo.call("put", "calld", f"/calls/{call_id}/hold/start", token=token)).status == 204
    held = await stream.event("call_held")
    assert held["data"] == {"call_id": call_id, "user_uuid": sim.resolve("carol")}
    assert _line_states(sim)["carol"] == "holding"
    assert (await wazo.call("get", "calld", f"/calls/{call_id}", token=token)).body["on_hold"] is True

    assert (await wazo.call("put", "calld", f"/calls/{call_id}/hold/stop", token=token)).status == 204
    await stream.event("call_resumed", call_id=call_id)
    assert _line_states(sim)["carol"] == "talking"


async def test_incoming_external_call(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await _admin_stream(wazo, session, sim)
    reply = await session.post(
        f"{sim.base_url}/_sim/users/bob/ring", json={"from_number": "0611223344", "from_name": "Mum"}
    )
    assert reply.status == 201
    call_id = (await reply.json())["call_id"]

    created = await stream.event("call_created", call_id=call_id)
    _check_call_event(created)
    assert created["data"]["direction"] == "inbound"
    assert created["data"]["peer_caller_id_number"] == "0611223344"
    assert created["data"]["peer_caller_id_name"] == "Mum"
    assert _line_states(sim)["bob"] == "ringing"

    assert (await session.post(f"{sim.base_url}/_sim/users/bob/answer")).status == 204
    assert (await stream.event("call_answered", call_id=call_id))["data"]["status"] == "Up"
    assert (
        await session.post(f"{sim.base_url}/_sim/calls/{call_id}/hangup", json={"reason_code": 17})
    ).status == 204
    assert (await stream.event("call_ended", call_id=call_id))["data"]["reason_code"] == 17


async def test_phone_to_phone_call_from_control_api(wazo: WazoHttp, sim: WazoSimulator) -> None:
    legs = sim.ring("bob", from_user="alice")
    assert _line_states(sim) == {"alice": "progressing", "bob": "ringing", "carol": "available"}
    sim.hangup(call_id=legs["caller_call_id"])
    assert _line_states(sim) == {"alice": "available", "bob": "available", "carol": "available"}


async def test_dnd_callee_with_a_voicemail_gets_a_message_and_never_rings(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    names = ("call_created", "call_ended", "user_voicemail_message_created")
    stream = await EventStream.open(session, sim, token, names)
    sim.set_dnd("bob", True)
    alice_call = (await wazo.call("post", "calld", "/calls", token=token, json_body=_originate_body())).body[
        "call_id"
    ]

    sim.answer(call_id=alice_call)

    ended = await stream.event("call_ended", call_id=alice_call)
    assert ended["data"]["reason_code"] == 16  # the voicemail answered, then the caller hung up
    (message,) = [e for e in stream.events if e["name"] == "user_voicemail_message_created"]
    assert message["data"]["user_uuid"] == BOB
    assert message["data"]["message"]["caller_id_num"] == "1001"
    assert not [e for e in stream.events if e["name"] == "call_created" and e["data"]["user_uuid"] == BOB]
    assert _line_states(sim)["bob"] == "available"
    assert sim.state()["users"]["bob"]["diverted"] == [{"from": "1001", "to": "voicemail"}]


async def test_dnd_callee_without_a_voicemail_is_busy() -> None:
    raw = tomllib.loads(DEMO_USERS_FILE.read_text())
    for user in raw["users"]:
        user.pop("voicemail_id", None)
    async with WazoSimulator(parse_config(raw)) as sim:
        sim.set_dnd("carol", True)
        legs = sim.ring("carol", from_user="alice")
        assert legs["call_id"] is None
        assert sim.state()["users"]["alice"]["calls"] == []  # refused: the caller's leg ended busy
        assert sim.ring("carol", from_number="0600")["call_id"] is None
        assert sim.state()["users"]["carol"]["diverted"] == [
            {"from": "1001", "to": "refused"},
            {"from": "0600", "to": "refused"},
        ]
        assert sim.state()["users"]["carol"]["voicemails"] == 0


async def test_unconditional_forward_rings_the_destination(wazo: WazoHttp, sim: WazoSimulator) -> None:
    sim.set_forward("bob", True, "1003")
    legs = sim.ring("bob", from_user="alice")
    assert _line_states(sim) == {"alice": "progressing", "bob": "available", "carol": "ringing"}
    sim.hangup(call_id=legs["caller_call_id"])
    outside = sim.ring("bob", from_number="0600")
    assert outside["call_id"] is not None
    assert _line_states(sim)["carol"] == "ringing"
    sim.hangup(call_id=outside["call_id"])
    sim.set_forward("bob", True, "+33612345678")  # an outside number: the call leaves the PBX
    assert sim.ring("bob", from_number="0600")["call_id"] is None
    assert sim.state()["users"]["bob"]["diverted"][-1] == {"from": "0600", "to": "+33612345678"}
    sim.set_forward("bob", False, "+33612345678")
    assert sim.ring("bob", from_number="0600")["call_id"] is not None


async def test_auto_answer_caller_dials_at_once(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("alice")
    body = {"extension": "1002", "auto_answer_caller": True}
    created = await wazo.call("post", "calld", "/users/me/calls", token=token, json_body=body)
    assert created.status == 201
    assert _line_states(sim) == {"alice": "progressing", "bob": "ringing", "carol": "available"}


async def test_outside_call_does_not_ring_a_phone_in_dnd_or_offline(sim: WazoSimulator) -> None:
    sim.set_dnd("bob", True)
    assert sim.ring("bob", from_number="0600")["call_id"] is None
    sim.set_registered("carol", False)
    assert sim.ring("carol", from_number="0600")["call_id"] is None
    assert sim.ring("alice", from_number="0600")["call_id"] is not None
    assert _line_states(sim) == {"alice": "ringing", "bob": "available", "carol": "unavailable"}


async def test_control_api_sets_a_forward_like_the_phone(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, token, ("users_forwards_unconditional_updated",))
    url = f"{sim.base_url}/_sim/users/bob/forwards/unconditional"
    reply = await session.put(url, json={"enabled": True, "destination": "+33612345678"})
    assert reply.status == 204
    event = await stream.event("users_forwards_unconditional_updated")
    assert (event["data"]["user_uuid"], event["data"]["enabled"]) == (BOB, True)
    assert sim.state()["users"]["bob"]["forwards"]["unconditional"] == {
        "enabled": True,
        "destination": "+33612345678",
    }
    assert (await session.put(url, json={"enabled": True, "destination": 3})).status == 400


async def test_an_unanswered_call_ends_then_the_caller_leaves_a_voicemail(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    """No answer: the ringing leg ends (cause 19) first; the voicemail event comes after it, as
    on Wazo where the message is known only once the caller hung up; then the caller's leg ends."""
    names = ("call_created", "call_answered", "call_ended", "user_voicemail_message_created")
    stream = await EventStream.open(session, sim, await wazo.login("phonepresence"), names)
    ids = sim.ring("bob", from_user="alice")
    sim.no_answer(user="bob", message_seconds=7)
    events = [
        (e["name"], e["data"].get("user_uuid"), e["data"].get("reason_code")) for e in await stream.drain()
    ]
    assert events == [
        ("call_created", ALICE, None),
        ("call_created", BOB, None),
        ("call_ended", BOB, 19),
        ("call_answered", ALICE, None),  # the voicemail application answers alice
        ("user_voicemail_message_created", BOB, None),
        ("call_ended", ALICE, 16),
    ]
    assert stream.events[-2]["data"]["message"]["caller_id_num"] == "1001"
    assert sim.state()["users"]["bob"]["calls"] == sim.state()["users"]["alice"]["calls"] == []
    # without a message: both legs end, nothing left in the mailbox
    sim.ring("bob", from_number="+33123456789")
    sim.no_answer(user="bob")
    tail = [(e["name"], e["data"].get("reason_code")) for e in await stream.drain()]
    assert tail == [("call_created", None), ("call_ended", 19)]
    assert sim.state()["users"]["bob"]["voicemails"] == 1
    assert ids["caller_call_id"] is not None
