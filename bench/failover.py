"""Failover of an active/standby pair: from SIGKILL of the active instance to a watcher seeing
the current phone state again, through the standby (target: 5 s).

Real processes and servers on 127.0.0.1: PostgreSQL (the shared store) and Prosody from
devservers, the Wazo simulator (in this process), two ``phonepresence run`` processes with the
same configuration. Each run: a fresh database; the first instance becomes active, the second
reports standby; bob subscribes to alice's phone JID through the active one; the active one is
SIGKILLed and alice's phone rings at once (a change nobody serves yet). Measured, from the kill:

* ``takeover_s``: the standby's /healthz stops saying "standby" (it holds the lock);
* ``ready_s``: its /readyz answers 200 (XMPP stream up, Wazo resynchronised);
* ``watcher_s``: bob's client receives alice's "ringing" phone presence (the target).

    .venv/bin/python -m bench.failover [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.rig import machine, report, verdict
from devservers.pair import Instance
from devservers.postgres import PostgresServer
from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from wazo_sim.app import WazoSimulator

TARGET_S = 5.0


async def wait_for(predicate: Any, timeout: float, what: str) -> float:
    """Poll an async predicate; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def one_run(
    prosody: ProsodyServer, postgres: PostgresServer, workdir: Path, number: int
) -> dict[str, Any]:
    from tests.e2e.watch import PresenceWatch  # the tests' presence recorder

    alice_phone = f"alice@{prosody.component}"
    async with WazoSimulator() as sim:
        url = await postgres.new_database()
        first = Instance(prosody, sim, url, workdir, f"first-{number}")
        second: Instance | None = None
        bob = None
        try:
            await first.wait_route("/readyz", 200, "ready")
            second = Instance(prosody, sim, url, workdir, f"second-{number}")
            await second.wait_route("/healthz", 200, "standby")
            bob = await connect_client(f"bob@{prosody.domain}", prosody.users["bob"], prosody.c2s_port)
            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()
            bob.send_presence_subscription(pto=alice_phone, ptype="subscribe")
            await watch.wait_for(alice_phone, ptype="available", state="reachable_by_phone")
            mark = watch.mark()
            standby = second

            async def holds_lock() -> bool:
                return (await standby.get("/healthz"))[1] == "ok\n"

            async def ready() -> bool:
                return (await standby.get("/readyz"))[0] == 200

            async def seen_at() -> float:
                await watch.wait_for(alice_phone, mark, timeout=30, state="ringing")
                return time.monotonic()

            killed = time.monotonic()
            first.kill()
            sim.ring("alice", from_number="+33123456789", from_name="Bench")
            # Each moment polled by its own task, so that none waits for another.
            took, ready_at, seen = await asyncio.gather(
                wait_for(holds_lock, 30, "the standby to take the lock"),
                wait_for(ready, 30, "the new active to be ready"),
                seen_at(),
            )
            # Unsubscribe: the next run's database is new, but bob's roster on Prosody is not.
            bob.send_presence_subscription(pto=alice_phone, ptype="unsubscribe")
            await asyncio.sleep(0.2)
            return {"takeover_s": took - killed, "ready_s": ready_at - killed, "watcher_s": seen - killed}
        finally:
            if bob is not None:
                await disconnect_client(bob)
            for instance in (first, second):
                if instance is not None:
                    instance.kill()


async def bench(runs: int) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="phonepresence-failover-"))
    prosody = ProsodyServer(workdir / "prosody")
    postgres = PostgresServer(workdir / "postgres")
    try:
        prosody.workdir.mkdir()
        prosody.start()
        prosody.register_users()
        postgres.start()
        results = [await one_run(prosody, postgres, workdir, n) for n in range(1, runs + 1)]
    finally:
        prosody.stop()
        postgres.remove()
    summary = report(
        "failover",
        "SIGKILL of the active instance -> a watcher sees the current state (s)",
        results,
        [
            ("takeover_s", "standby holds the lock"),
            ("ready_s", "new active ready (XMPP + Wazo resync)"),
            ("watcher_s", "watcher sees the current state"),
        ],
    )
    shutil.rmtree(workdir, ignore_errors=True)
    worst = summary["watcher_s"][2]
    return [
        verdict(
            "failover",
            f"watcher sees current state <= {TARGET_S:.0f} s after SIGKILL (max)",
            worst,
            worst <= TARGET_S,
        )
    ]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 2
    print(f"machine: {machine()}")
    return asyncio.run(bench(args.runs))


if __name__ == "__main__":
    main()
