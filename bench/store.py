"""The two stores side by side: SQLite (a local file, FULL sync) and PostgreSQL (the harness's
server on 127.0.0.1, durability off as in the tests: the figures show the protocol and query
costs, not a disk's fsync).

Measured per store: loading every subscription at start (200,000 rows: what a start or a
takeover by the standby reads first), then one subscription added and acknowledged (the write
a watcher's ``subscribe`` waits for), p50 / p99 over 500 writes.

    .venv/bin/python -m bench.store [--subscriptions 200000] [--writes 500] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.rig import machine, percentile
from devservers.postgres import PostgresServer
from store import StateStore, Store
from store.postgres import PostgresStore


def rows(count: int) -> list[tuple[str, str, str]]:
    """``count`` subscriptions: 20 watchers per owner, as in the scale benchmark."""
    return [(f"u{i // 20}", f"w{i % 20}-{i // 20}@example.test", f"uuid-{i // 20}") for i in range(count)]


async def measure(store: StateStore, count: int, writes: int) -> dict[str, float]:
    started = time.perf_counter()
    # The read a start makes (PhoneSubscriptions.load): every owner's subscribers, grouped.
    loaded = 0
    async for groups in store.phone_subscription_groups():
        loaded += sum(len(subscribers) for _owner, _uuid, subscribers in groups)
    load_s = time.perf_counter() - started
    assert loaded == count
    latencies = []
    for i in range(writes):
        started = time.perf_counter()
        await store.add_phone_subscription("u0", f"new{i}@example.test", "uuid-0")
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {
        "load_s": load_s,
        "write_p50_ms": percentile(latencies, 0.5) * 1000,
        "write_p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def bench(count: int, writes: int) -> dict[str, dict[str, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="phonepresence-store-bench-"))
    server = PostgresServer(workdir / "postgres")
    server.start()
    data = rows(count)
    try:
        async with Store(workdir / "state.sqlite") as sqlite:
            await sqlite.db.executemany(
                "INSERT INTO phone_subscriptions (owner, subscriber, owner_uuid) VALUES (?, ?, ?)", data
            )
            sqlite_figures = await measure(sqlite, count, writes)
        url = await server.new_database()
        async with PostgresStore(url) as postgres:
            connection = await asyncpg.connect(url)
            try:
                await connection.copy_records_to_table(
                    "phone_subscriptions", records=data, columns=["owner", "subscriber", "owner_uuid"]
                )
                await connection.execute("ANALYZE phone_subscriptions")
            finally:
                await connection.close()
            postgres_figures = await measure(postgres, count, writes)
    finally:
        server.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"sqlite": sqlite_figures, "postgresql": postgres_figures}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200_000)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="20,000 subscriptions, 100 writes")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscriptions, args.writes = 20_000, 100
    print(f"machine: {machine()}")
    figures = asyncio.run(bench(args.subscriptions, args.writes))
    load = f"load {args.subscriptions:,} subs (s)"
    print(f"{'store':<11} {load:>24} {'write p50 (ms)':>15} {'write p99 (ms)':>15}")
    for name, f in figures.items():
        print(f"{name:<11} {f['load_s']:24.3f} {f['write_p50_ms']:15.3f} {f['write_p99_ms']:15.3f}")
    return []  # figures only: no target


if __name__ == "__main__":
    main()
