"""websocketd v2: frames, close codes, token renewal and expiry, per-token event filtering."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.wazo_sim.helpers import ALICE, BOB, EventStream, WazoHttp
from wazo_sim.app import WazoSimulator
from wazo_sim.config import parse_config
from wazo_sim.websocketd import next_check_delay

WAIT = 10.0  # longest wait for a frame that must come: only a failing test waits that long


async def _raw(
    session: aiohttp.ClientSession, sim: WazoSimulator, query: str
) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"{sim.websocket_url}{query}")


async def _close_code(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    while True:
        message = await ws.receive(timeout=WAIT)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code, str(message.extra or "")


async def test_no_token_closes_4001(session: aiohttp.ClientSession, sim: WazoSimulator) -> None:
    ws = await _raw(session, sim, "?version=2")
    assert await _close_code(ws) == (4001, "no token")


async def test_bad_token_closes_4002(session: aiohttp.ClientSession, sim: WazoSimulator) -> None:
    ws = await _raw(session, sim, "?version=2&token=not-a-token")
    assert await _close_code(ws) == (4002, "authentication failed")


async def test_token_without_websocketd_acl_closes_4002(session: aiohttp.ClientSession) -> None:
    config = parse_config(
        {
            "users": [
                {"id": 1, "username": "dan", "password": "pw", "exten": "1004", "acl": ["calld.users.me.#"]}
            ]
        }
    )
    async with WazoSimulator(config) as sim:
        token = await WazoHttp(session, sim).login_with("dan", "pw")
        ws = await _raw(session, sim, f"?version=2&token={token}")
        assert (await _close_code(ws))[0] == 4002


async def test_unknown_version_closes_4004(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("alice")
    ws = await _raw(session, sim, f"?version=3&token={token}")
    assert (await _close_code(ws))[0] == 4004


async def test_token_may_come_from_the_header(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("alice")
    ws = await session.ws_connect(f"{sim.websocket_url}?version=2", headers={"X-Auth-Token": token})
    assert json.loads((await ws.receive(timeout=WAIT)).data) == {
        "op": "init",
        "code": 0,
        "data": {"version": 2},
    }
    await ws.close()


async def test_protocol_violations_close_4004(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    token = await wazo.login("alice")
    violations = [
        "not json",
        json.dumps(["op", "start"]),
        json.dumps({"op": 3}),
        json.dumps({"op": "unsubscribe", "data": {"event_name": "x"}}),
        json.dumps({"op": "subscribe", "data": {"event_name": 42}}),
        json.dumps({"op": "subscribe", "data": "call_created"}),
        json.dumps({"op": "ping"}),
    ]
    for frame in violations:
        ws = await _raw(session, sim, f"?version=2&token={token}")
        await ws.receive(timeout=WAIT)  # init
        await ws.send_str(frame)
        assert (await _close_code(ws))[0] == 4004, frame
    ws = await _raw(session, sim, f"?version=2&token={token}")
    await ws.receive(timeout=WAIT)
    await ws.send_bytes(b'{"op": "start"}')
    assert (await _close_code(ws))[0] == 4004


async def test_ping_pong_and_token_ops(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    renewed = await wazo.login("alice")  # before the stream: a login publishes a presence event
    stream = await EventStream.open(session, sim, await wazo.login("alice"))
    await stream.ws.send_json({"op": "ping", "data": {"payload": "hello"}})
    assert await stream.frame() == {"op": "pong", "code": 0, "data": {"payload": "hello"}}
    await stream.ws.send_json({"op": "token", "data": {"token": renewed}})
    assert await stream.frame() == {"op": "token", "code": 0, "data": None}
    # subscribing after start is answered too (v2)
    await stream.ws.send_json({"op": "subscribe", "data": {"event_name": "call_created"}})
    assert await stream.frame() == {"op": "subscribe", "code": 0, "data": None}
    await stream.ws.send_json({"op": "token", "data": {"token": "bogus"}})
    assert await stream.closed() == (4002, "authentication failed")


async def test_events_before_start_are_dropped(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    ws = await _raw(session, sim, f"?version=2&token={await wazo.login('phonepresence')}")
    await ws.receive(timeout=WAIT)
    await ws.send_json({"op": "subscribe", "data": {"event_name": "*"}})
    assert json.loads((await ws.receive(timeout=WAIT)).data)["op"] == "subscribe"
    sim.set_dnd("alice", True)  # published before start: lost (the next event proves it)
    await ws.send_json({"op": "start"})
    assert json.loads((await ws.receive(timeout=WAIT)).data)["op"] == "start"
    sim.set_dnd("alice", False)
    first = json.loads((await ws.receive(timeout=WAIT)).data)
    assert first["data"]["name"] == "users_services_dnd_updated"
    assert first["data"]["data"]["enabled"] is False
    await ws.close()


async def test_only_subscribed_names_are_delivered(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(
        session, sim, await wazo.login("phonepresence"), ("users_services_dnd_updated",)
    )
    sim.ring("bob", from_number="0600000000")
    sim.set_dnd("alice", True)
    assert [e["name"] for e in await stream.drain()] == ["users_services_dnd_updated"]


async def test_event_envelope_is_exactly_the_bus_message(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(
        session, sim, await wazo.login("phonepresence"), ("users_services_dnd_updated",)
    )
    sim.set_dnd("alice", True)
    frame = await stream.frame()
    assert frame["op"] == "event"
    assert frame["code"] == 0
    body = frame["data"]
    assert body["name"] == "users_services_dnd_updated"
    assert body["origin_uuid"] == sim.config.wazo_uuid
    assert body["tenant_uuid"] == sim.config.users[0].tenant_uuid
    assert body["required_access"] == "event.users_services_dnd_updated"
    assert body["required_acl"] == f"events.config.users.{ALICE}.services.dnd.updated"
    assert body[f"user_uuid:{ALICE}"] is True
    assert body["data"] == {
        "user_id": 1,
        "user_uuid": ALICE,
        "tenant_uuid": body["tenant_uuid"],
        "enabled": True,
    }
    assert isinstance(body["timestamp"], str)


async def test_service_account_sees_every_user_but_a_user_only_their_own_calls(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    admin = await EventStream.open(session, sim, await wazo.login("phonepresence"))
    alice = await EventStream.open(session, sim, await wazo.login("alice"))

    sim.ring("bob", from_number="0611223344")

    admin_events = await admin.drain()
    alice_events = await alice.drain()
    assert ("call_created", BOB) in [(e["name"], e["data"].get("user_uuid")) for e in admin_events]
    assert not [e for e in alice_events if e["name"].startswith("call_")]
    # chatd presence is a tenant event: everyone with the ACL sees bob ringing
    assert [e["data"]["line_state"] for e in alice_events if e["name"] == "chatd_presence_updated"] == [
        "ringing"
    ]

    sim.ring("alice", from_number="0611223344")
    assert (await alice.event("call_created"))["data"]["user_uuid"] == ALICE


async def test_other_tenants_see_nothing(session: aiohttp.ClientSession) -> None:
    config = parse_config(
        {
            "users": [
                {"id": 1, "username": "ann", "password": "pw", "exten": "1001", "tenant_uuid": "tenant-a"},
                {"id": 2, "username": "ben", "password": "pw", "exten": "2001", "tenant_uuid": "tenant-b"},
            ],
            "service_accounts": [
                {
                    "username": "svc-b",
                    "password": "pw",
                    "tenant_uuid": "tenant-b",
                    "acl": ["websocketd", "events.#"],
                }
            ],
        }
    )
    async with WazoSimulator(config) as sim:
        http = WazoHttp(session, sim)
        stream = await EventStream.open(session, sim, await http.login_with("svc-b", "pw"))
        sim.ring("ann", from_number="0600")
        sim.ring("ben", from_number="0600")
        seen = {e["data"].get("user_uuid") or e["data"].get("uuid") for e in await stream.drain()}
        assert seen == {config.users[1].uuid}


async def test_acl_filters_events_of_the_tenant(session: aiohttp.ClientSession) -> None:
    config = parse_config(
        {
            "users": [{"id": 1, "username": "ann", "password": "pw", "exten": "1001"}],
            "service_accounts": [
                {"username": "calls-only", "password": "pw", "acl": ["websocketd", "events.calls.*"]}
            ],
        }
    )
    async with WazoSimulator(config) as sim:
        stream = await EventStream.open(
            session, sim, await WazoHttp(session, sim).login_with("calls-only", "pw")
        )
        sim.ring("ann", from_number="0600")
        sim.set_dnd("ann", True)
        assert [e["name"] for e in await stream.drain()] == ["call_created"]


async def test_drop_closes_every_websocket_1011(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(session, sim, await wazo.login("alice"))
    reply = await session.post(f"{sim.base_url}/_sim/websockets/drop")
    assert (await reply.json()) == {"closed": 1}
    assert await stream.closed() == (1011, "bus connection lost")


async def test_expired_token_closes_4003_at_the_next_check(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    # 1 s left: websocketd checks again when it runs out, not 15 s (or more) later.
    stream = await EventStream.open(session, sim, await wazo.login("alice", expiration=1))
    started = asyncio.get_running_loop().time()
    assert await stream.closed(timeout=20) == (4003, "authentication expired")
    assert asyncio.get_running_loop().time() - started < 10


async def test_expire_all_with_recheck_closes_4003_now(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(session, sim, await wazo.login("phonepresence"))
    sim.expire_tokens(recheck_now=True)
    assert await stream.closed(timeout=WAIT) == (4003, "authentication expired")


async def test_injected_frame_reaches_clients_verbatim(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(session, sim, await wazo.login("alice"))
    assert await sim.inject_frame('{"op": "event", "code": 0, "data": {"name": ') == 1
    message = await stream.ws.receive(timeout=WAIT)
    assert message.data == '{"op": "event", "code": 0, "data": {"name": '


async def test_version_1_sends_bare_bodies_and_no_pong(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    ws = await _raw(session, sim, f"?token={await wazo.login('phonepresence')}")
    assert json.loads((await ws.receive(timeout=WAIT)).data) == {
        "op": "init",
        "code": 0,
        "data": {"version": 1},
    }
    await ws.send_json({"op": "subscribe", "data": {"event_name": "users_services_dnd_updated"}})
    await ws.receive(timeout=WAIT)
    # v1 answers ops only until start: the start reply is the barrier behind a pong.
    await ws.send_json({"op": "ping", "data": {"payload": "x"}})
    await ws.send_json({"op": "start"})
    assert json.loads((await ws.receive(timeout=WAIT)).data)["op"] == "start"
    sim.set_dnd("bob", True)
    body = json.loads((await ws.receive(timeout=WAIT)).data)
    assert body["name"] == "users_services_dnd_updated"
    assert "op" not in body
    await ws.close()


def test_expiry_check_schedule_follows_websocketd() -> None:
    assert next_check_delay(-5) == 15
    assert next_check_delay(10) == 10
    assert next_check_delay(70) == 60
    assert next_check_delay(7200) == 5400
    assert next_check_delay(100000) == 43200
