"""Users created, edited and deleted in the simulated confd: the events Wazo publishes, with the
names, ACLs and bodies of wazo-bus (resources/user, user_line, line_extension), and the faults
tests use (a lost event, a malformed list item, confd down)."""

from __future__ import annotations

import aiohttp

from tests.wazo_sim.helpers import ALICE, TENANT, EventStream, WazoHttp
from wazo_sim.app import WazoSimulator

DAVE = {
    "id": 9,
    "username": "dave",
    "password": "pw",
    "email": "dave@example.test",
    "exten": "1009",
    "line_id": 19,
}
LIFECYCLE = (
    "user_created",
    "user_edited",
    "user_deleted",
    "user_line_associated",
    "user_line_dissociated",
    "line_extension_associated",
    "line_extension_dissociated",
)


async def test_a_new_hire_an_edit_and_a_departure_publish_confd_events(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("phonepresence")  # the component's account: its ACLs let these through
    stream = await EventStream.open(session, sim, token, LIFECYCLE)

    dave = sim.create_user(DAVE)
    created = await stream.event("user_created")
    assert created["required_acl"] == "events.config.user.created"
    assert created["user_uuid:*"] is True
    assert created["data"] == {
        "id": 9,
        "uuid": dave["uuid"],
        "subscription_type": 0,
        "created_at": created["data"]["created_at"],
        "tenant_uuid": TENANT,
    }
    extension = await stream.event("line_extension_associated")
    assert extension["data"] == {"line_id": 19, "extension_id": 19}
    assert extension["required_acl"] == "events.config.line_extension_associated.updated"
    associated = await stream.event("user_line_associated")
    assert associated["required_acl"] == f"events.config.users.{dave['uuid']}.lines.19.updated"
    assert associated[f"user_uuid:{dave['uuid']}"] is True
    assert associated["data"]["user"] == {"id": 9, "uuid": dave["uuid"], "tenant_uuid": TENANT}
    assert (associated["data"]["line"]["id"], associated["data"]["main_line"]) == (19, True)
    listed = await wazo.call("get", "confd", "/users", token=token, params={"email": "dave@example.test"})
    assert [u["uuid"] for u in listed.body["items"]] == [dave["uuid"]]
    assert await wazo.login_with("dave", "pw")  # wazo-auth knows the new user too

    sim.edit_user("dave", email="david@example.test")
    edited = await stream.event("user_edited")
    assert (edited["data"]["uuid"], edited["required_acl"]) == (dave["uuid"], "events.config.user.edited")
    user = await wazo.call("get", "confd", f"/users/{dave['uuid']}", token=token)
    assert user.body["email"] == "david@example.test"

    sim.delete_user("dave")
    assert (await stream.event("user_line_dissociated"))["data"]["user"]["uuid"] == dave["uuid"]
    assert (await stream.event("line_extension_dissociated"))["data"] == {"line_id": 19, "extension_id": 19}
    deleted = await stream.event("user_deleted")
    assert (deleted["data"]["uuid"], deleted["required_acl"]) == (dave["uuid"], "events.config.user.deleted")
    gone = await wazo.call("get", "confd", f"/users/{dave['uuid']}", token=token)
    assert gone.status == 404


async def test_the_control_api_drives_users_and_faults_over_http(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    async def control(method: str, path: str, body: object = None) -> aiohttp.ClientResponse:
        async with session.request(method, f"{sim.base_url}/_sim{path}", json=body) as reply:
            await reply.read()
            return reply

    assert (await control("post", "/users", DAVE)).status == 201
    assert (await control("patch", "/users/dave", {"email": "david@example.test"})).status == 204
    assert (await control("patch", "/users/dave", {"password": "x"})).status == 400
    assert sim.config.users_by_uuid[sim.resolve("dave")].email == "david@example.test"
    assert (await control("delete", "/users/dave")).status == 204
    assert "dave" not in sim.state()["users"]

    token = await wazo.login("phonepresence")
    assert (await control("post", "/confd/unavailable", {"seconds": 60})).status == 204
    assert (await wazo.call("get", "confd", "/users", token=token, validate=False)).status == 502
    sim.confd_unavailable(0)

    assert (await control("post", "/calld/malformed", {"count": 1})).status == 204
    calls = await wazo.call("get", "calld", "/calls", token=token, validate=False)
    assert calls.body["items"][0]["status"] is None
    assert (await wazo.call("get", "calld", "/calls", token=token)).body["items"] == []
    assert (await control("post", "/chatd/malformed")).status == 204
    presences = await wazo.call("get", "chatd", "/users/presences", token=token, validate=False)
    assert presences.body["items"][0]["line_state"] == "on-a-boat"

    stream = await EventStream.open(session, sim, token, ("call_ended", "call_created"))
    assert (await control("post", "/events/call_ended/lose")).status == 204
    call = sim.ring("alice", from_number="+33100000000")
    sim.hangup(call_id=call["call_id"])
    sim.ring("alice", from_number="+33100000001")
    # The created event of the second call arrives; the first call's end never did.
    await stream.event("call_created", peer_caller_id_number="+33100000001")
    assert [e["name"] for e in stream.events] == ["call_created", "call_created"]
    assert sim.state()["users"]["alice"]["calls"][0]["user_uuid"] == ALICE
