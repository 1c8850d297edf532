"""Wazo event → domain state latency, with the Wazo simulator in-process.

For each of N line-state changes (a phone unregisters / registers again in the simulator), time
from the simulator publishing the change to the tracker holding the new line state: websocket
frame, JSON decode, parsing into a domain event, tracker update. Prints a table and JSON lines.

    .venv/bin/python bench/wazo_event_latency.py [--changes N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time

from presence.model import LineState, PhoneEvent
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.tracker import PhoneStateTracker
from wazo_sim.app import WazoSimulator


async def one_run(changes: int) -> list[float]:
    """Latencies in milliseconds of ``changes`` line-state changes of one user."""
    tracker = PhoneStateTracker()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def sink(event: PhoneEvent) -> None:
        if tracker.apply(event):
            arrived.put_nowait(time.perf_counter())

    async with WazoSimulator() as sim:
        alice = sim.config.users[0]
        settings = WazoSettings(
            base_url=sim.base_url, username="phonepresence", password=Secret("phonepresence-pass")
        )
        async with WazoClient(settings, sink) as wazo:
            assert wazo.events is not None
            await asyncio.wait_for(wazo.events.synced.wait(), 10)
            while not arrived.empty():
                arrived.get_nowait()
            latencies = []
            for i in range(changes):
                registered = i % 2 == 1  # starts registered: first change unregisters
                expected = LineState.AVAILABLE if registered else LineState.UNAVAILABLE
                await asyncio.sleep(0)  # let stragglers of the previous change land first
                while not arrived.empty():
                    arrived.get_nowait()
                sent = time.perf_counter()
                sim.set_registered(user=alice.username, registered=registered)
                while True:
                    got = await asyncio.wait_for(arrived.get(), 5)
                    if got >= sent and tracker.get(alice.uuid).line_state is expected:
                        break
                latencies.append((got - sent) * 1000)
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered), "p99_ms": p99, "max_ms": ordered[-1]}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    runs = []
    for run in range(1, args.runs + 1):
        figures = summary(await one_run(args.changes))
        runs.append(figures)
        print(json.dumps({"bench": "wazo_event_latency", "run": run, "changes": args.changes, **figures}))
    print()
    print(f"Wazo event -> tracker state latency, {args.changes} line-state changes x {args.runs} runs")
    print(f"{'figure':<10} {'min':>9} {'median':>9} {'max':>9}   (over runs, ms)")
    for key in ("median_ms", "p99_ms", "max_ms"):
        values = [r[key] for r in runs]
        print(f"{key[:-3]:<10} {min(values):9.3f} {statistics.median(values):9.3f} {max(values):9.3f}")
    for key in ("median_ms", "p99_ms", "max_ms"):
        values = [r[key] for r in runs]
        print(
            json.dumps(
                {
                    "bench": "wazo_event_latency",
                    "figure": key,
                    "min": min(values),
                    "median": statistics.median(values),
                    "max": max(values),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
