"""Every request the Wazo client sends matches Wazo's published API (../shared/wazo-specs).

All client operations run against the recording fake Wazo; each recorded request must name an
operation of the spec (method + path template), carry only query parameters that operation
declares, and have a body valid against its schema (strictly: no undeclared keys).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import Forward, ForwardKind
from tests.wazo_client.fake_wazo import FakeWazo, Recorded
from tests.wazo_client.payloads import ALICE, call
from tests.wazo_specs import SpecViolation, WazoSpec, load_spec, requires_specs

SERVICES = {
    "/api/auth/0.1": "wazo-auth",
    "/api/calld/1.0": "wazo-calld",
    "/api/chatd/1.0": "wazo-chatd",
    "/api/confd/1.1": "wazo-confd",
}
# Nothing here but the cross-check: skipped with the reason when the spec folder is absent.
pytestmark = requires_specs

USER = {"uuid": ALICE, "id": 1, "firstname": "Alice", "lastname": "A", "email": "a@x", "lines": []}


def _query_parameters(spec: WazoSpec, method: str, template: str) -> set[str]:
    names = set()
    for parameter in spec.operation(method, template).get("parameters", []):
        ref = parameter.get("$ref", "")
        if ref.startswith("#/parameters/"):
            parameter = spec.document["parameters"][ref.rsplit("/", 1)[1]]
        if parameter.get("in") == "query":
            names.add(parameter["name"])
    return names


def check_request(request: Recorded) -> str:
    prefix = next(p for p in SERVICES if request.path.startswith(p))
    spec = load_spec(SERVICES[prefix])
    path = request.path[len(prefix) :]
    method = request.method.lower()
    template = spec.find_template(method, path)
    spec.validate_request(method, template, request.body)
    undeclared = set(request.query) - _query_parameters(spec, method, template)
    if undeclared:
        raise SpecViolation(f"{request.method} {template}: undeclared query parameters {undeclared}")
    return f"{SERVICES[prefix]} {request.method} {template}"


async def exercise_every_operation(wazo: WazoClient, fake: FakeWazo) -> None:
    canned: dict[tuple[str, str], tuple[int, Any]] = {
        ("POST", "/api/calld/1.0/calls"): (201, call("c1", ALICE, is_caller=True)),
        ("DELETE", "/api/calld/1.0/calls/c1"): (204, None),
        ("GET", "/api/calld/1.0/voicemails/messages"): (200, {"items": [], "total": 0}),
        ("GET", "/api/confd/1.1/users"): (200, {"items": [USER], "total": 1}),
        ("GET", f"/api/confd/1.1/users/{ALICE}"): (200, USER),
        ("GET", f"/api/confd/1.1/users/{ALICE}/services/dnd"): (200, {"enabled": False}),
        ("PUT", f"/api/confd/1.1/users/{ALICE}/services/dnd"): (204, None),
        ("GET", f"/api/confd/1.1/users/{ALICE}/forwards"): (200, {}),
        ("PUT", f"/api/confd/1.1/users/{ALICE}/forwards/unconditional"): (204, None),
        ("PUT", f"/api/confd/1.1/users/{ALICE}/forwards/busy"): (204, None),
    }
    for key, (status, body) in canned.items():
        fake.canned[key] = (status, "" if body is None else json.dumps(body))
    await wazo.calld.originate(ALICE, "1002", "default", line_id=11, auto_answer=True, variables={"K": "V"})
    await wazo.calld.originate(ALICE, "1002", "default")
    await wazo.calld.originate(ALICE, "1002", "default", all_lines=True)
    await wazo.calld.originate(ALICE, "1002", "default", from_mobile=True)
    await wazo.calld.hangup("c1")
    await wazo.calld.list_calls()
    await wazo.calld.user_voicemail_messages(ALICE)
    await wazo.chatd.list_presences()
    await wazo.chatd.list_presences([ALICE])
    await wazo.confd.list_users()
    await wazo.confd.list_users(search="ali")
    await wazo.confd.get_user(ALICE)
    await wazo.confd.get_dnd(ALICE)
    await wazo.confd.set_dnd(ALICE, True)
    await wazo.confd.get_forwards(ALICE)
    await wazo.confd.set_forward(ALICE, ForwardKind.UNCONDITIONAL, Forward(True, "1003"))
    await wazo.confd.set_forward(ALICE, ForwardKind.UNCONDITIONAL, Forward(False, None))
    await wazo.confd.set_forward(ALICE, ForwardKind.BUSY, Forward(False))


async def test_every_request_matches_the_wazo_specs() -> None:
    async with FakeWazo() as fake, WazoClient(fake.settings(tenant_uuid="t-1")) as wazo:
        await exercise_every_operation(wazo, fake)
    checked = {check_request(request) for request in fake.requests}
    # The operations the component relies on were all exercised and checked.
    assert {
        "wazo-auth POST /token",
        "wazo-calld POST /calls",
        "wazo-calld DELETE /calls/{call_id}",
        "wazo-calld GET /calls",
        "wazo-calld GET /voicemails/messages",
        "wazo-chatd GET /users/presences",
        "wazo-confd GET /users",
        "wazo-confd PUT /users/{user_id}/services/{service_name}",
        "wazo-confd PUT /users/{user_id}/forwards/{forward_name}",
    } <= checked


def test_the_conformance_check_rejects_a_bad_body() -> None:
    bad = Recorded(
        "POST",
        "/api/calld/1.0/calls",
        {},
        {},
        {"source": {"user": ALICE}, "destination": {"extension": "1002", "context": "default"}},
    )
    with pytest.raises(SpecViolation, match="priority"):
        check_request(bad)
    typo = Recorded("PUT", f"/api/confd/1.1/users/{ALICE}/services/dnd", {}, {}, {"enable": True})
    with pytest.raises(SpecViolation):
        check_request(typo)
