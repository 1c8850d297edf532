"""confd users, lines, extensions, services (DND) and forwards."""

from __future__ import annotations

import aiohttp

from tests.wazo_sim.helpers import ALICE, BOB, EventStream, WazoHttp
from tests.wazo_specs import spec_check
from wazo_sim.app import WazoSimulator


async def test_list_users_summary_and_filters(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")

    summary = await wazo.call("get", "confd", "/users", token=token, params={"view": "summary"})
    assert summary.body["total"] == 3
    alice = next(u for u in summary.body["items"] if u["uuid"] == ALICE)
    assert (alice["extension"], alice["context"], alice["email"]) == ("1001", "default", "alice@example.test")

    by_email = await wazo.call("get", "confd", "/users", token=token, params={"email": "bob@example.test"})
    assert [u["uuid"] for u in by_email.body["items"]] == [BOB]
    assert (await wazo.call("get", "confd", "/users", token=token, params={"email": "bob"})).body[
        "total"
    ] == 0

    search = await wazo.call("get", "confd", "/users", token=token, params={"search": "ANDERS"})
    assert [u["uuid"] for u in search.body["items"]] == [ALICE]
    by_exten = await wazo.call("get", "confd", "/users", token=token, params={"search": "1002"})
    assert [u["uuid"] for u in by_exten.body["items"]] == [BOB]

    uuids = await wazo.call("get", "confd", "/users", token=token, params={"uuid": f"{ALICE},{BOB}"})
    assert sorted(u["uuid"] for u in uuids.body["items"]) == [ALICE, BOB]

    page = await wazo.call("get", "confd", "/users", token=token, params={"limit": "1", "offset": "1"})
    assert page.body["total"] == 3
    assert [u["firstname"] for u in page.body["items"]] == ["Bob"]


async def test_get_user_by_id_or_uuid(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")
    by_id = await wazo.call("get", "confd", "/users/1", token=token)
    by_uuid = await wazo.call("get", "confd", f"/users/{ALICE}", token=token)
    assert by_id.body == by_uuid.body
    line = by_id.body["lines"][0]
    assert (line["id"], line["name"], line["context"]) == (11, "alice-desk", "default")
    assert line["extensions"] == [{"id": 11, "exten": "1001", "context": "default"}]

    missing = await wazo.call("get", "confd", "/users/999", token=token)
    assert missing.status == 404
    assert isinstance(missing.body, list)
    assert missing.body[0].startswith("Resource Not Found - User was not found")


async def test_lines_and_extensions(wazo: WazoHttp) -> None:
    token = await wazo.login("phonepresence")
    lines = await wazo.call("get", "confd", "/lines", token=token)
    assert lines.body["total"] == 3
    line = (await wazo.call("get", "confd", "/lines/12", token=token)).body
    assert line["users"][0]["uuid"] == BOB
    exten = await wazo.call(
        "get", "confd", "/extensions", token=token, params={"exten": "1003", "context": "default"}
    )
    assert [e["lines"][0]["id"] for e in exten.body["items"]] == [13]
    assert (await wazo.call("get", "confd", "/extensions/13", token=token)).body["exten"] == "1003"


async def test_dnd_service_round_trip_and_event(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, token, ("users_services_dnd_updated",))
    body = {"enabled": True}
    spec_check("wazo-confd").validate_request("put", "/users/{user_id}/services/{service_name}", body)

    assert (
        await wazo.call("put", "confd", f"/users/{ALICE}/services/dnd", token=token, json_body=body)
    ).status == 204

    event = await stream.event("users_services_dnd_updated")
    assert event["data"] == {
        "user_id": 1,
        "user_uuid": ALICE,
        "tenant_uuid": event["tenant_uuid"],
        "enabled": True,
    }
    assert (await wazo.call("get", "confd", "/users/1/services/dnd", token=token)).body == {"enabled": True}
    services = (await wazo.call("get", "confd", f"/users/{ALICE}/services", token=token)).body
    assert services == {"dnd": {"enabled": True}, "incallfilter": {"enabled": False}}
    assert sim.state()["users"]["alice"]["dnd"] is True


async def test_dnd_requires_a_strict_boolean(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    for bad in ({"enabled": "true"}, {"enabled": 1}, {}):
        reply = await wazo.call("put", "confd", f"/users/{ALICE}/services/dnd", token=token, json_body=bad)
        assert reply.status == 400, bad
        assert reply.body[0].startswith("Input Error - field 'enabled'")
    assert sim.state()["users"]["alice"]["dnd"] is False


async def test_forwards_round_trip_and_events(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")
    stream = await EventStream.open(session, sim, token, ("*",))
    body = {"enabled": True, "destination": "0612345678"}
    spec_check("wazo-confd").validate_request("put", "/users/{user_id}/forwards/{forward_name}", body)

    reply = await wazo.call(
        "put", "confd", f"/users/{BOB}/forwards/unconditional", token=token, json_body=body
    )

    assert reply.status == 204
    event = await stream.event("users_forwards_unconditional_updated")
    assert event["required_acl"] == f"events.config.users.{BOB}.forwards.unconditional.updated"
    assert event["data"]["destination"] == "0612345678"
    assert event["data"]["enabled"] is True
    forwards = (await wazo.call("get", "confd", f"/users/{BOB}/forwards", token=token)).body
    assert forwards["unconditional"] == body
    assert forwards["busy"] == {"enabled": False, "destination": None}
    too_long = {"destination": "1" * 129}
    assert (
        await wazo.call("put", "confd", f"/users/{BOB}/forwards/busy", token=token, json_body=too_long)
    ).status == 400


async def test_unconditional_forward_to_a_colleague_rings_them(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    body = {"enabled": True, "destination": "1003"}
    await wazo.call("put", "confd", f"/users/{BOB}/forwards/unconditional", token=token, json_body=body)

    sim.ring("bob", from_user="alice")

    states = {name: user["line_state"] for name, user in sim.state()["users"].items()}
    assert states == {"alice": "progressing", "bob": "available", "carol": "ringing"}


async def test_user_token_manages_only_its_own_dnd(wazo: WazoHttp) -> None:
    token = await wazo.login("alice")
    own = await wazo.call(
        "put", "confd", f"/users/{ALICE}/services/dnd", token=token, json_body={"enabled": True}
    )
    assert own.status == 204
    other = await wazo.call(
        "put", "confd", f"/users/{BOB}/services/dnd", token=token, json_body={"enabled": True}
    )
    assert other.status == 401
