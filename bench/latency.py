"""Latency: the simulator emitting a line-state change -> a subscriber's slixmpp client receiving
the presence, through the real component and Prosody, at 500 and 2,000 changes/s.

U users (default 1,000) each watched by one of C real slixmpp clients (default 4), so every
change is one presence to one client. The simulator logs each emission time; each client logs
each arrival (same clock); a change is matched to the first later arrival of the user's new state.
Targets: p50 <= 5 ms and p99 <= 15 ms at 500/s; p99 <= 10 ms at 2,000/s. No CPU affinity by
default: nothing is compared with a ceiling here, and pinned, the component, the simulator and
the clients measuring the latency would queue behind each other on one CPU while Prosody's sits
mostly idle (it needs a quarter of a core at 2,000/s); ``--pin`` gives the layout of bench.fanout.

    .venv/bin/python -m bench.latency [--rates 500 2000] [--seconds 5] [--runs 3] [--users 1000]
        [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from typing import Any

from bench.rig import (
    DOMAIN,
    Rig,
    cpu_seconds,
    machine,
    make_store,
    match_latencies,
    percentile,
    read_emits,
    report,
    verdict,
)

# Per offered rate: (figure, target as printed, limit in ms).
TARGETS: dict[int, tuple[tuple[str, str, float], ...]] = {
    500: (("p50_ms", "p50 <= 5 ms at 500/s", 5), ("p99_ms", "p99 <= 15 ms at 500/s", 15)),
    2000: (("p99_ms", "p99 <= 10 ms at 2,000/s", 10),),
}


async def bench(
    rates: list[int], seconds: float, runs: int, users: int, clients: int, profile: bool, pin: bool = False
) -> list[dict[str, Any]]:
    results: dict[int, list[dict[str, Any]]] = {rate: [] for rate in rates}
    rig = Rig(users=users, readers=0, latency_clients=clients, pin=pin)
    print(rig.affinity_text, flush=True)
    async with rig:
        template = rig.workdir / "template.sqlite"
        subs = {f"{rig.client_name(k)}@{DOMAIN}": (lambda i, k=k: i % clients == k) for k in range(clients)}
        await make_store(template, users, subs)
        for run in range(runs):
            store = rig.workdir / f"run{run}.sqlite"
            shutil.copy(template, store)
            prof = rig.workdir / f"latency-profile-{run}.txt" if profile and run == 0 else None
            component = await rig.start_component(store, prof)
            try:
                await rig.quiesce()
                for rate in rates:
                    rig.reset()
                    log = rig.workdir / f"emits-{run}-{rate}.txt"
                    cpu_before = (cpu_seconds(component.pid), cpu_seconds(rig.prosody_pid))
                    answer = await rig.sim.command(
                        cmd="run", rate=rate, count=int(rate * seconds), log=str(log)
                    )  # type: ignore[union-attr]
                    await rig.quiesce(0.5)
                    cpu_after = (cpu_seconds(component.pid), cpu_seconds(rig.prosody_pid))
                    arrivals = [a for c in rig.clients for a in c.arrivals]
                    latencies, lost = match_latencies(read_emits(log), arrivals, lambda _i: True)
                    ordered = sorted(latencies)
                    span = answer["elapsed_s"]
                    results[rate].append(
                        {
                            "rate": rate,
                            "changes": answer["count"],
                            "achieved_rate": answer["count"] / span,
                            "p50_ms": percentile(ordered, 0.50),
                            "p99_ms": percentile(ordered, 0.99),
                            "max_ms": ordered[-1] if ordered else float("nan"),
                            "lost": lost,
                            "component_cpu_pct": 100 * (cpu_after[0] - cpu_before[0]) / span,
                            "prosody_cpu_pct": 100 * (cpu_after[1] - cpu_before[1]) / span,
                        }
                    )
            finally:
                await component.stop()
            if prof is not None and prof.exists():
                print(f"--- pyinstrument profile of the component, latency run {run + 1} ---")
                print(prof.read_text()[:6000])
    verdicts = []
    for rate in rates:
        summary = report(
            "latency",
            f"Line-state change -> slixmpp client presence, {rate}/s for {seconds:g} s, "
            f"{users} users, {clients} clients",
            results[rate],
            [
                ("p50_ms", "p50 latency (ms)"),
                ("p99_ms", "p99 latency (ms)"),
                ("max_ms", "max latency (ms)"),
                ("lost", "changes not seen"),
                ("achieved_rate", "changes/s emitted"),
                ("component_cpu_pct", "component CPU (% core)"),
                ("prosody_cpu_pct", "Prosody CPU (% core)"),
            ],
            extra=rig.affinity_text,
        )
        for figure, label, limit in TARGETS.get(rate, ()):
            median = summary[figure][1]
            verdicts.append(verdict("latency", f"{label} (median of runs)", median, median <= limit))
    return verdicts


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the component in run 1")
    parser.add_argument("--quick", action="store_true", help="1 s per rate (smoke test)")
    parser.add_argument(
        "--pin", action="store_true", help="Prosody on CPU 0, the rest on the others (as bench.fanout)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 1.0
    print(f"machine: {machine()}")
    return asyncio.run(
        bench(args.rates, args.seconds, args.runs, args.users, args.clients, args.profile, pin=args.pin)
    )


if __name__ == "__main__":
    main()
