"""Drive the Wazo simulator through its HTTP control API (``/_sim/``) and compare with a tracker."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from presence.model import Call
from presence.sources.wazo.parsing import parse_call
from presence.sources.wazo.tracker import PhoneStateTracker

SERVICE_USERNAME = "phonepresence"
SERVICE_PASSWORD = "phonepresence-pass"


class SimDriver:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/_sim"

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._session.request(method, self._base + path, json=body) as response:
            text = await response.text()
            assert response.status < 300, f"{method} /_sim{path}: {response.status} {text}"
            return await response.json() if text else None

    async def ring(self, user: str, from_user: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._send("POST", f"/users/{user}/ring", {"from_user": from_user})
        return result

    async def answer(self, user: str) -> None:
        await self._send("POST", f"/users/{user}/answer")

    async def call_action(self, call_id: str, action: str) -> None:
        await self._send("POST", f"/calls/{call_id}/{action}")

    async def hangup_user(self, user: str) -> None:
        await self._send("POST", f"/users/{user}/hangup", {})

    async def dnd(self, user: str, enabled: bool) -> None:
        await self._send("PUT", f"/users/{user}/dnd", {"enabled": enabled})

    async def registered(self, user: str, registered: bool) -> None:
        await self._send("PUT", f"/users/{user}/registered", {"registered": registered})

    async def drop_websockets(self) -> None:
        await self._send("POST", "/websockets/drop")

    async def chatd_unavailable(self, seconds: float) -> None:
        await self._send("POST", "/chatd/unavailable", {"seconds": seconds})

    async def lose_events(self, name: str, count: int = 1) -> None:
        await self._send("POST", f"/events/{name}/lose", {"count": count})

    async def malformed(self, service: str, count: int = 1) -> None:
        await self._send("POST", f"/{service}/malformed", {"count": count})

    async def expire_tokens(self) -> None:
        await self._send("POST", "/tokens/expire", {"recheck_now": True})

    async def inject(self, frame: str) -> None:
        await self._send("POST", "/websockets/inject", {"frame": frame})

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._send("GET", "/state")
        return result


def _comparable(call: Call, with_peer_name: bool) -> Call:
    return call if with_peer_name else replace(call, peer_name="")


def differences(
    tracker: PhoneStateTracker, sim_state: dict[str, Any], *, with_peer_name: bool = False
) -> list[str]:
    """Where the tracker disagrees with the simulator's truth (empty list: they agree).

    ``with_peer_name`` is off by default: the simulator sets the caller leg's peer name when the
    callee starts ringing without publishing ``call_updated`` (real calld publishes one on
    NewConnectedLine), so no client could know it. Reported to the simulator's owner.
    """
    problems = []
    for name, truth in sim_state["users"].items():
        mine = tracker.get(truth["uuid"])
        if mine.line_state.value != truth["line_state"]:
            problems.append(f"{name}: line_state {mine.line_state.value} != {truth['line_state']}")
        if mine.do_not_disturb != truth["dnd"]:
            problems.append(f"{name}: dnd {mine.do_not_disturb} != {truth['dnd']}")
        true_lines = sorted((line["id"], line["state"]) for line in truth["lines"])
        my_lines = sorted((line_id, state.value) for line_id, state in mine.lines)
        if my_lines != true_lines:
            problems.append(f"{name}: lines {my_lines} != {true_lines}")
        true_calls = sorted(
            (_comparable(parse_call(c), with_peer_name) for c in truth["calls"]), key=lambda c: c.call_id
        )
        my_calls = sorted((_comparable(c, with_peer_name) for c in mine.calls), key=lambda c: c.call_id)
        if my_calls != true_calls:
            problems.append(f"{name}: calls {my_calls} != {true_calls}")
    return problems
