"""calld's "which phone rings first" on origination: the main line, a given line, every line
(``all_lines``) or the user's mobile (``from_mobile``), with calld's refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.commands.harness import two_lines_and_mobile_world
from tests.wazo_sim.helpers import ALICE, BOB, WazoHttp
from wazo_sim.app import WazoSimulator


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator(two_lines_and_mobile_world()) as simulator:
        yield simulator


def _body(user: str = ALICE, **source: Any) -> dict[str, Any]:
    return {
        "source": {"user": user, **source},
        "destination": {"extension": "1002", "context": "default", "priority": 1},
    }


def _alice(sim: WazoSimulator) -> dict[str, Any]:
    return dict(sim.state()["users"]["alice"])


async def _originate(wazo: WazoHttp, **source: Any) -> Any:
    token = await wazo.login("phonepresence")
    return await wazo.call("post", "calld", "/calls", token=token, json_body=_body(**source))


async def test_main_line_by_default_and_a_given_line(wazo: WazoHttp, sim: WazoSimulator) -> None:
    created = await _originate(wazo)
    assert created.status == 201
    assert created.body["line_id"] == 11
    assert (_alice(sim)["ringing_lines"], _alice(sim)["mobile_ringing"]) == ([11], False)
    sim.hangup(user="alice")
    created = await _originate(wazo, line_id=21)
    assert created.body["line_id"] == 21
    assert _alice(sim)["ringing_lines"] == [21]
    # all_lines is ignored when a line is given (calld)
    sim.hangup(user="alice")
    await _originate(wazo, line_id=21, all_lines=True)
    assert _alice(sim)["ringing_lines"] == [21]


async def test_all_lines_ring_and_the_first_answered_dials_out(wazo: WazoHttp, sim: WazoSimulator) -> None:
    created = await _originate(wazo, all_lines=True)
    assert created.status == 201
    alice = _alice(sim)
    assert alice["ringing_lines"] == [11, 21]
    assert [line["state"] for line in alice["lines"]] == ["ringing", "ringing"]
    soft = next(call for call in alice["calls"] if call["line_id"] == 21)
    sim.answer(call_id=soft["call_id"])  # picked up on the soft phone: the desk phone stops
    alice = _alice(sim)
    assert [call["line_id"] for call in alice["calls"]] == [21]
    assert [line["state"] for line in alice["lines"]] == ["available", "progressing"]
    assert sim.state()["users"]["bob"]["line_state"] == "ringing"
    sim.hangup(call_id=soft["call_id"])
    assert _alice(sim)["calls"] == []
    assert sim.state()["users"]["bob"]["calls"] == []


async def test_hanging_up_an_all_lines_call_stops_every_line(wazo: WazoHttp, sim: WazoSimulator) -> None:
    created = await _originate(wazo, all_lines=True)
    assert _alice(sim)["ringing_lines"] == [11, 21]
    sim.hangup(call_id=created.body["call_id"])
    assert _alice(sim)["calls"] == []


async def test_the_mobile_rings_instead_of_any_line(wazo: WazoHttp, sim: WazoSimulator) -> None:
    created = await _originate(wazo, from_mobile=True, line_id=21)  # from_mobile wins over line_id
    assert created.status == 201
    assert created.body["line_id"] is None
    alice = _alice(sim)
    assert (alice["ringing_lines"], alice["mobile_ringing"]) == ([], True)
    assert alice["line_state"] == "available"  # no desk phone rings
    sim.answer(user="alice")  # picked up on the mobile: bob's phone rings
    assert sim.state()["users"]["bob"]["line_state"] == "ringing"
    assert _alice(sim)["mobile_ringing"] is False


async def test_from_mobile_without_a_mobile_number_is_refused(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    body = _body(user=BOB, from_mobile=True)
    body["destination"]["extension"] = "1001"
    refused = await wazo.call("post", "calld", "/calls", token=token, json_body=body)
    assert refused.status == 400
    assert (refused.body["error_id"], refused.body["message"]) == (
        "call-creation",
        "User has no mobile phone number",
    )
    assert sim.state()["users"]["bob"]["calls"] == []


async def test_a_mobile_the_context_cannot_reach_is_refused(session: aiohttp.ClientSession) -> None:
    async with WazoSimulator(two_lines_and_mobile_world(alice_mobile="+33612345678")) as sim:
        wazo = WazoHttp(session, sim)
        refused = await _originate(wazo, from_mobile=True)
        assert refused.status == 400
        assert refused.body["error_id"] == "call-creation"
        assert refused.body["details"]["mobile_exten"] == "+33612345678"
