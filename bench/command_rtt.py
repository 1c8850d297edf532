"""Click-to-call round trip: form submit ("complete" sent by a real client) → origination received
by the Wazo simulator. Real Prosody, the component in-process, a real slixmpp client.

    .venv/bin/python bench/command_rtt.py [--calls N]

Prints a table and JSON lines (median, p99, max in milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.harness import Adhoc, RecordingSimulator
from tests.xmpp.appctl import component_config, running_app, wait_online


async def measure(calls: int, workdir: Path) -> dict[str, list[float]]:
    prosody = ProsodyServer(workdir / "prosody")
    (workdir / "prosody").mkdir()
    prosody.start()
    try:
        prosody.register_users()
        async with RecordingSimulator() as sim:
            config = component_config(
                prosody,
                workdir / "state.sqlite",
                wazo={"enabled": True, "base_url": sim.base_url, "username": "phonepresence"},
                presence={"privilege_grace": 0.3},
                calls={"max_calls_per_minute": 1000},
                env={"PHONEPRESENCE_WAZO_PASSWORD": "phonepresence-pass"},
            )
            async with running_app(config) as app:
                await wait_online(app)
                await asyncio.wait_for(app.provisioned.wait(), 10)
                alice = await connect_client(
                    f"alice@{prosody.domain}", prosody.users["alice"], prosody.c2s_port
                )
                try:
                    submit_to_origination, whole_command = [], []
                    for _ in range(calls):
                        adhoc = Adhoc(alice, prosody.component)
                        began = time.perf_counter()
                        await adhoc.execute("call", number="1002")
                        sent = time.perf_counter()
                        iq = await adhoc.act("complete")
                        done = time.perf_counter()
                        assert iq["command"]["notes"][0][0] == "info", iq
                        submit_to_origination.append((sim.arrivals[-1] - sent) * 1000)
                        whole_command.append((done - began) * 1000)
                        sim.hangup(user="alice")
                finally:
                    await disconnect_client(alice)
        return {"submit_to_origination": submit_to_origination, "execute_to_completed": whole_command}
    finally:
        prosody.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        results = asyncio.run(measure(args.calls, Path(tmp)))
    print(f"{'measure':<24} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    lines = []
    for name, values in results.items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        row = {
            "bench": "command_rtt",
            "measure": name,
            "n": len(values),
            "median_ms": round(statistics.median(values), 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(values), 2),
        }
        lines.append(row)
        print(f"{name:<24} {row['n']:>5} {row['median_ms']:>10} {row['p99_ms']:>8} {row['max_ms']:>8}")
    for row in lines:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
