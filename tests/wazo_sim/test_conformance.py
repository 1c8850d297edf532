"""Conformance with Wazo's published API: every route the simulator serves exists in the spec,
and every event payload of a busy scenario has the documented shape."""

from __future__ import annotations

import re

import aiohttp

from tests.wazo_sim.helpers import EventStream, WazoHttp
from tests.wazo_specs import load_spec, requires_specs, spec_check
from wazo_sim.app import SERVICE_PATHS, WazoSimulator, build_app
from wazo_sim.core import SimCore

SPEC_OF_PREFIX = {SERVICE_PATHS[s]: f"wazo-{s}" for s in ("auth", "calld", "chatd", "confd")}


def _served_routes(sim: WazoSimulator) -> list[tuple[str, str, str]]:
    """(spec, method, path template) of every REST route the simulator serves."""
    routes = []
    for route in build_app(SimCore(sim.config)).router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        for prefix, spec in SPEC_OF_PREFIX.items():
            if not path.startswith(prefix + "/"):
                continue
            if route.method == "HEAD" and not path.startswith(prefix + "/token/"):
                continue  # aiohttp's automatic HEAD twin of a GET route, not an API of its own
            template = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path[len(prefix) :])
            routes.append((spec, route.method.lower(), template))
    return routes


@requires_specs
async def test_every_served_rest_route_is_in_the_spec(sim: WazoSimulator) -> None:
    routes = _served_routes(sim)
    assert len(routes) > 30
    for spec_name, method, template in routes:
        spec = load_spec(spec_name)
        # aiohttp names parameters as the handlers like; the spec's names may differ.
        assert spec.find_template(method, re.sub(r"\{\w+\}", "x", template)), (spec_name, method, template)


async def test_event_payloads_match_documented_shapes(
    wazo: WazoHttp, session: aiohttp.ClientSession, sim: WazoSimulator
) -> None:
    stream = await EventStream.open(session, sim, await wazo.login("phonepresence"))
    token = await wazo.login("phonepresence")
    body = {
        "source": {"user": sim.resolve("alice")},
        "destination": {"extension": "1002", "context": "default", "priority": 1},
    }
    call_id = (await wazo.call("post", "calld", "/calls", token=token, json_body=body)).body["call_id"]
    sim.answer(call_id=call_id)
    sim.answer(user="bob")
    sim.hold(call_id)
    sim.resume(call_id)
    sim.hangup(call_id=call_id)
    sim.ring("carol", from_number="0600")
    sim.hangup(user="carol")
    sim.leave_voicemail("carol", "0600", None, 5)
    sim.set_dnd("carol", True)

    events = await stream.drain()

    calld = spec_check("wazo-calld")
    chatd = spec_check("wazo-chatd")
    names = {event["name"] for event in events}
    assert {
        "call_created",
        "call_updated",
        "call_answered",
        "call_held",
        "call_resumed",
        "call_ended",
    } <= names
    assert {"chatd_presence_updated", "user_voicemail_message_created", "users_services_dnd_updated"} <= names
    for event in events:
        assert set(event) >= {
            "name",
            "origin_uuid",
            "timestamp",
            "tenant_uuid",
            "required_acl",
            "required_access",
            "data",
        }
        data = event["data"]
        if event["name"] in ("call_created", "call_updated", "call_answered", "call_ended"):
            calld.validate_definition("Call", data)
            assert event["required_acl"] == f"events.calls.{data['user_uuid']}"
        elif event["name"] in ("call_held", "call_resumed"):
            assert set(data) == {"call_id", "user_uuid"}
        elif event["name"] == "chatd_presence_updated":
            chatd.validate_definition("Presence", data)
            assert list(data) == [
                "uuid", "tenant_uuid", "state", "status", "last_activity", "mobile",
                "do_not_disturb", "connected", "lines", "line_state",
            ]  # fmt: skip
        elif event["name"] == "user_voicemail_message_created":
            calld.validate_definition("VoicemailMessage", data["message"])
    assert all("reason_code" in e["data"] for e in events if e["name"] == "call_ended")
