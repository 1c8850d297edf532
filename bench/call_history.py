"""Cost of the call history in the Wazo event path: one ended call written to the store (insert
+ trim to ``history_size``, each commit synced to disk), and the read behind ``calls``.

    .venv/bin/python -m bench.call_history [--calls 2000] [--users 50] [--history-size 200]

Runs the real :class:`store.Store` on a file in a temporary folder (the disk the component's
store would use); prints percentiles in milliseconds and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from store import Store


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(calls: int, users: int, history_size: int, folder: Path) -> dict[str, float]:
    writes: list[float] = []
    reads: list[float] = []
    async with Store(folder / "bench.sqlite") as store:
        for i in range(calls):
            row = (
                f"user-{i % users}",
                f"conv-{i}",
                "incoming",
                "missed",
                "1002",
                "Bob",
                1_700_000_000_000 + i,
                0,
            )
            start = time.perf_counter()
            await store.save_call(row, history_size)
            writes.append((time.perf_counter() - start) * 1000)
        for i in range(200):
            start = time.perf_counter()
            await store.recent_calls(f"user-{i % users}", 20)
            reads.append((time.perf_counter() - start) * 1000)
    return {
        "write_p50_ms": statistics.median(writes),
        "write_p99_ms": _percentile(writes, 0.99),
        "read20_p50_ms": statistics.median(reads),
        "read20_p99_ms": _percentile(reads, 0.99),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--history-size", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        figures = asyncio.run(run(args.calls, args.users, args.history_size, Path(folder)))
    print(
        f"{args.calls} ended calls over {args.users} users (history_size {args.history_size}): "
        f"write p50 {figures['write_p50_ms']:.2f} ms, p99 {figures['write_p99_ms']:.2f} ms; "
        f"calls list (20 rows) p50 {figures['read20_p50_ms']:.2f} ms, p99 {figures['read20_p99_ms']:.2f} ms"
    )
    print(json.dumps({"bench": "call_history", **figures}))


if __name__ == "__main__":
    main()
