"""The Wazo simulator in its own process, driven over stdin (one JSON command per line).

Started by the benchmarks (never by hand): ``python -m bench._sim --users N``. Prints
``{"ready": true, "base_url": ...}`` once listening, then one JSON answer per command:

- ``{"cmd": "run", "rate": R, "count": N, "log": PATH}``: N line-state changes at R per second,
  round-robin over the users, each flipping the user's line registration. Each emission time
  (``time.monotonic_ns``, the same clock in every process) is written to PATH as
  ``t_ns user_index registered`` lines.
- ``{"cmd": "drop"}``: websocketd loses its bus (every websocket closes); answers the time.
- ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import threading
import time
from typing import Any

from wazo_sim.app import WazoSimulator
from wazo_sim.config import LineConfig, SimConfig, UserConfig, parse_config

SERVICE_ACL = [
    "websocketd",
    "events.chatd.users.*.presences.updated",
    "events.calls.*",
    "events.config.users.*.services.#",
    "events.config.users.*.forwards.#",
    "events.users.*.voicemails",
    "events.config.user.*",
    "events.config.users.*.lines.*.*",
    "events.config.line_extension_associated.*",
    "chatd.users.presences.read",
    "chatd.users.*.presences.read",
    "chatd.users.*.presences.update",
    "calld.calls.create",
    "calld.calls.read",
    "calld.calls.*.read",
    "calld.calls.*.delete",
    "calld.calls.*.hold.*.update",
    "calld.calls.*.answer.update",
    "calld.voicemails.messages.read",
    "calld.voicemails.*.read",
    "calld.voicemails.*.messages.*.recording.read",
    "calld.voicemails.*.messages.*.update",
    "calld.voicemails.*.messages.*.delete",
    "confd.users.read",
    "confd.users.*.read",
    "confd.users.*.lines.read",
    "confd.users.*.services.#",
    "confd.users.*.forwards.#",
    "confd.lines.read",
    "confd.lines.*.read",
    "confd.extensions.read",
    "confd.extensions.*.read",
]
SERVICE_USER = "phonepresence"
SERVICE_PASSWORD = "phonepresence-pass"


def user_name(index: int) -> str:
    return f"u{index}"


def world(users: int, domain: str) -> dict[str, Any]:
    """A simulator world of ``users`` users u0..u{n-1} (email u<i>@domain), each with one line."""
    return {
        "wazo": {
            "uuid": "6a3e2c6f-5a3b-4c1e-9f0e-0d1c2b3a4f50",
            "tenant_uuid": "a1b2c3d4-0000-4000-8000-0000000000b1",
        },
        "users": [
            {
                "id": i + 1,
                "username": user_name(i),
                "password": f"pw-{i}",
                "email": f"{user_name(i)}@{domain}",
                "firstname": "User",
                "lastname": str(i),
                "exten": str(100000 + i),
                "line_id": 1_000_000 + i,
                "line_name": f"line-{i}",
            }
            for i in range(users)
        ],
        "service_accounts": [
            {
                "username": SERVICE_USER,
                "password": SERVICE_PASSWORD,
                "purpose": "external_api",
                "acl": SERVICE_ACL,
            }
        ],
    }


class IndexedSimConfig(SimConfig):
    """The simulator's config with its line and extension look-ups indexed.

    The simulator scans its user list on those look-ups (fine for tests with 3 users); with
    thousands of users the scan would make the *simulator* the bottleneck of the benchmark.
    """

    def __post_init__(self) -> None:
        SimConfig.__post_init__(self)
        lines = {line.id: (user, line) for user in self.users for line in user.lines}
        object.__setattr__(self, "_lines_by_id", lines)

    def line_owner(self, line_id: int) -> tuple[UserConfig, LineConfig] | None:
        return self._lines_by_id.get(line_id)  # type: ignore[attr-defined, no-any-return]


def indexed(config: SimConfig) -> IndexedSimConfig:
    return IndexedSimConfig(
        wazo_uuid=config.wazo_uuid,
        users=config.users,
        service_accounts=config.service_accounts,
        default_token_lifetime=config.default_token_lifetime,
        auth_check_max_interval=config.auth_check_max_interval,
    )


async def run_changes(
    sim: WazoSimulator, rate: float, count: int, start: int, log_path: str
) -> dict[str, Any]:
    users = sim.config.users
    registered = sim.core.state.registered
    lines = [user.lines[0].id for user in users]
    n = len(lines)
    emitted: list[tuple[int, int, bool]] = []
    period = 1e9 / rate
    t0 = time.monotonic_ns()
    for i in range(count):
        due = t0 + int(i * period)
        now = time.monotonic_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        index = (start + i) % n
        line_id = lines[index]
        new = not registered[line_id]
        stamp = time.monotonic_ns()
        sim.set_registered(line_id=line_id, registered=new)
        emitted.append((stamp, index, new))
    elapsed = (time.monotonic_ns() - t0) / 1e9
    await asyncio.sleep(0)
    with open(log_path, "w") as out:  # noqa: ASYNC230  # after the timed part
        out.writelines(f"{t} {index} {int(reg)}\n" for t, index, reg in emitted)
    return {"ok": True, "count": count, "elapsed_s": elapsed}


async def serve(users: int, domain: str) -> None:
    config = indexed(parse_config(world(users, domain)))
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line)
        loop.call_soon_threadsafe(commands.put_nowait, '{"cmd": "quit"}')

    threading.Thread(target=read_stdin, daemon=True).start()
    async with WazoSimulator(config) as sim:
        print(json.dumps({"ready": True, "base_url": sim.base_url}), flush=True)
        position = 0
        while True:
            command = json.loads(await commands.get())
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "run":
                answer = await run_changes(sim, command["rate"], command["count"], position, command["log"])
                position += command["count"]
            elif command["cmd"] == "drop":
                stamp = time.monotonic_ns()
                closed = await sim.drop_websockets()
                answer = {"ok": True, "t_ns": stamp, "closed": closed}
            else:
                answer = {"ok": False, "error": f"unknown command {command['cmd']!r}"}
            print(json.dumps(answer), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--domain", default="example.test")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.users, args.domain))


if __name__ == "__main__":
    main()
