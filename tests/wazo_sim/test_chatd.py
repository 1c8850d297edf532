"""chatd presences: list/get/put, aggregate line state, DND mirror, connected, 503 not-initialized."""

from __future__ import annotations

import aiohttp

from tests.wazo_sim.helpers import ALICE, BOB, CAROL, TENANT, EventStream, WazoHttp
from tests.wazo_specs import spec_check
from wazo_sim.app import WazoSimulator


async def test_new_users_start_unavailable_with_registered_lines(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")

    reply = await wazo.call("get", "chatd", "/users/presences", token=token)

    assert reply.status == 200
    assert reply.body["total"] == reply.body["filtered"] == 3
    alice = next(p for p in reply.body["items"] if p["uuid"] == ALICE)
    assert alice == {
        "uuid": ALICE,
        "tenant_uuid": TENANT,
        "state": "unavailable",
        "status": None,
        "last_activity": None,
        "mobile": False,
        "do_not_disturb": False,
        "connected": False,
        "lines": [{"id": 11, "state": "available"}],
        "line_state": "available",
    }


async def test_list_filters_by_user_uuid(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")
    reply = await wazo.call(
        "get", "chatd", "/users/presences", token=token, params={"user_uuid": f"{BOB},{CAROL}"}
    )
    assert sorted(p["uuid"] for p in reply.body["items"]) == [BOB, CAROL]
    assert reply.body["filtered"] == 2
    assert reply.body["total"] == 3


async def test_put_sets_state_and_status_and_emits(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, token, ("chatd_presence_updated",))
    body = {"state": "away", "status": "Lunch", "do_not_disturb": True}  # read-only keys are ignored

    reply = await wazo.call("put", "chatd", f"/users/{BOB}/presences", token=token, json_body=body)

    assert reply.status == 204
    event = await stream.event("chatd_presence_updated", uuid=BOB)
    assert event["required_acl"] == f"events.chatd.users.{BOB}.presences.updated"
    assert event["user_uuid:*"] is True
    spec_check("wazo-chatd").validate_definition("Presence", event["data"])
    got = (await wazo.call("get", "chatd", f"/users/{BOB}/presences", token=token)).body
    assert (got["state"], got["status"], got["do_not_disturb"]) == ("away", "Lunch", False)
    assert got["last_activity"].endswith("+00:00")
    # a PUT without status keeps the old one
    await wazo.call("put", "chatd", f"/users/{BOB}/presences", token=token, json_body={"state": "available"})
    got = (await wazo.call("get", "chatd", f"/users/{BOB}/presences", token=token)).body
    assert (got["state"], got["status"]) == ("available", "Lunch")


async def test_put_rejects_unknown_state(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")
    reply = await wazo.call(
        "put", "chatd", f"/users/{BOB}/presences", token=token, json_body={"state": "busy"}
    )
    assert reply.status == 400
    assert reply.body["error_id"] == "invalid-data"


async def test_unknown_user_is_404(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")
    reply = await wazo.call(
        "get", "chatd", "/users/00000000-0000-4000-8000-000000000000/presences", token=token
    )
    assert reply.status == 404
    assert reply.body["error_id"] == "unknown-user"


async def test_dnd_from_confd_shows_in_presence(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, token, ("chatd_presence_updated",))
    await wazo.call("put", "confd", f"/users/{CAROL}/services/dnd", token=token, json_body={"enabled": True})
    event = await stream.event("chatd_presence_updated", uuid=CAROL)
    assert event["data"]["do_not_disturb"] is True


async def test_user_login_makes_them_connected(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(
        session, sim, await wazo.login("phonepresence"), ("chatd_presence_updated",)
    )
    alice_token = await wazo.login("alice")
    assert (await stream.event("chatd_presence_updated", uuid=ALICE))["data"]["connected"] is True
    await wazo.call("delete", "auth", f"/token/{alice_token}")
    assert (await stream.event("chatd_presence_updated", uuid=ALICE))["data"]["connected"] is False


async def test_unregistered_line_is_unavailable(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    await wazo.session.put(f"{sim.base_url}/_sim/users/carol/registered", json={"registered": False})
    got = (await wazo.call("get", "chatd", f"/users/{CAROL}/presences", token=token)).body
    assert got["line_state"] == "unavailable"
    assert got["lines"] == [{"id": 13, "state": "unavailable"}]


async def test_not_initialized_503_then_recovers(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    sim.chatd_unavailable(60)

    for path in ("/users/presences", f"/users/{ALICE}/presences"):
        reply = await wazo.call("get", "chatd", path, token=token, validate=False)
        assert reply.status == 503
        assert reply.body["error_id"] == "not-initialized"
        assert reply.body["message"] == "Presences are not initialized"

    sim.chatd_unavailable(0)
    assert (await wazo.call("get", "chatd", "/users/presences", token=token)).status == 200


async def test_user_token_reads_presences_but_updates_only_its_own(wazo: WazoHttp) -> None:
    token = await wazo.login("alice")
    assert (await wazo.call("get", "chatd", f"/users/{BOB}/presences", token=token)).status == 200
    own = await wazo.call(
        "put", "chatd", f"/users/{ALICE}/presences", token=token, json_body={"state": "available"}
    )
    assert own.status == 204
    other = await wazo.call(
        "put", "chatd", f"/users/{BOB}/presences", token=token, json_body={"state": "away"}
    )
    assert other.status == 401
