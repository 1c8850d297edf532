"""Scale: 10,000 users and 200,000 subscriptions in the store (20 raw-socket subscribers, each
watching every user).

Measures, per run: the component process's RSS once every subscriber has the current presence;
the time from starting the component process to every subscriber having every user's current
presence (checked per subscriber and user on the wire); the time from the simulator dropping the
websocket to the component being resynchronised from chatd again. In the same run, after the
component stopped, a raw XEP-0114 sender replays the bytes the component wrote during its cold
start (tee'd to a file) to measure Prosody's ceiling for that traffic. Prosody has a CPU of its
own in both (bench.rig ``Rig(pin=True)``: Prosody on CPU 0, the component, simulator and readers
on the other CPUs; ``--no-pin`` to share).
Targets: RSS <= 200 MB; cold start <= 1.5 x (subscriptions / ceiling); resync <= 2 s. With
--watchers (50,000 users, 30 % of watchers online): RSS <= 500 MB; cold start <= 1.2 x.

    .venv/bin/python -m bench.scale [--users 10000] [--subscribers 20] [--runs 3] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench._sim import user_name
from bench.rig import (
    DOMAIN,
    Component,
    Rig,
    component_config,
    cpu_seconds,
    machine,
    make_store,
    report,
    verdict,
)

WANT = b"reachable_by_phone"  # every simulated user: phone registered, no chat client


def timeline(component: Component, readers_first_ns: int, readers_last_ns: int) -> str:
    """The phases of the start (bench/_component.py's trace), seconds from the process start,
    up to the last online watcher current: where the critical path runs."""
    t0 = component.started_ns
    rows: list[tuple[int, str]] = []
    for line in component.events:
        at = line.get("t_ns", 0)
        if at > readers_last_ns:
            break
        if line.get("ev") == "span":
            rows.append((line["start_ns"], f"{line['name']:<34} {(at - line['start_ns']) / 1e9:7.2f} s"))
        elif line.get("ev") in ("main", "online", "provisioned", "synced", "learnt", "sent"):
            extra = {k: v for k, v in line.items() if k not in ("ev", "t_ns")}
            rows.append((at, f"{line['ev']} {extra if extra else ''}"))
    rows.append((readers_first_ns, "first presence at a reader"))
    rows.append((readers_last_ns, "last presence at a reader (all current)"))
    return "\n".join(f"  {(at - t0) / 1e9:7.2f}  {text}" for at, text in sorted(rows))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Watchers:
    """--watchers mode: the first ``count`` Wazo users watch ``per_user`` x users / count colleagues
    each (every user is watched by ``per_user`` of them); ``online`` of them are logged in, the
    others have an account and are known offline (the component approved in their rosters)."""

    count: int
    per_user: int
    online_share: float

    def online(self) -> list[int]:
        """round(count x share) of them, spread over the ring (neighbours watch the same users)."""
        spread = sorted(range(self.count), key=lambda k: k * 37 % 100)
        return sorted(spread[: round(self.count * self.online_share)])

    def watches(self, k: int, i: int) -> bool:
        return (i + k) % self.count < self.per_user


async def bench(
    users: int,
    subscribers: int,
    runs: int,
    profile: bool,
    watchers: Watchers | None = None,
    pin: bool = True,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    os.environ["PHONEPRESENCE_BENCH_TRACE"] = "1"  # the component prints its phases (timeline)
    owners = [user_name(i).encode() for i in range(users)]
    online = watchers.online() if watchers is not None else []
    rig = Rig(users=users, readers=subscribers, latency_clients=0, track=True, pin=pin)
    if watchers is not None:
        rig = Rig(
            users=users,
            readers=len(online),
            latency_clients=0,
            track=True,
            names=[user_name(k) for k in online],
            idle=[user_name(k) for k in range(watchers.count) if k not in online],
            pin=pin,
        )
    print(rig.affinity_text, flush=True)
    async with rig:
        assert rig.prosody is not None
        assert rig.sim is not None
        template = rig.workdir / "template.sqlite"
        if watchers is None:
            subs = {f"{rig.reader_name(k)}@{DOMAIN}": (lambda _i: True) for k in range(subscribers)}
            expected = [[(o, WANT) for o in owners] for _ in range(subscribers)]
        else:
            subs = {
                f"{user_name(k)}@{DOMAIN}": (lambda i, k=k: watchers.watches(k, i))
                for k in range(watchers.count)
            }
            # A logged-in watcher is available in chat: that is what its own watchers see.
            seen = {i: (b"available" if i in online else WANT) for i in range(users)}
            expected = [
                [(owners[i], seen[i]) for i in range(users) if watchers.watches(k, i)] for k in online
            ]
        # Watchers have a chat account (logged in or not); the other users only a phone.
        has_account = (lambda i: i < watchers.count) if watchers is not None else (lambda _i: False)
        stored = await make_store(template, users, subs, has_account)
        total = sum(map(len, expected))  # what the readers logged in must get

        def everyone_current() -> bool:
            return all(
                all(r.states.get(o) == want for o, want in e) for r, e in zip(rig.raw, expected, strict=True)
            )

        for run in range(runs):
            store = rig.workdir / f"run{run}.sqlite"
            shutil.copy(template, store)
            for reader in rig.raw:
                reader.states.clear()
            rig.reset()
            capture = rig.workdir / f"scale-capture-{run}.xml"
            prof = rig.workdir / f"scale-profile-{run}.txt" if profile and run == 0 else None
            config = component_config(rig.prosody, rig.sim.base_url, store)
            component = Component(rig.workdir, config, prof, capture)
            try:
                deadline = time.monotonic() + 300
                checked = -1
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                    if rig.delivered() != checked:
                        checked = rig.delivered()
                        if checked >= total and everyone_current():
                            break
                else:
                    raise TimeoutError("subscribers never all had the current presence")
                cold_s = (max(r.last_ns for r in rig.raw) - component.started_ns) / 1e9
                phases = timeline(
                    component, min(r.first_ns for r in rig.raw), max(r.last_ns for r in rig.raw)
                )
                await rig.quiesce(1.0)
                cold_delivered = rig.delivered()
                rss_mb = psutil.Process(component.pid).memory_info().rss / 2**20
                peak_mb = peak_rss_mb(component.pid)
                cpu_cold = cpu_seconds(component.pid)
                await component.wait("synced", resyncs=1)
                dropped = await rig.sim.command(cmd="drop")
                synced = await component.wait("synced", resyncs=2, timeout=60)
                resync_s = (synced["t_ns"] - dropped["t_ns"]) / 1e9
                component.send("uncapture")
                await component.wait("uncaptured")
            finally:
                await component.stop(timeout=90)  # 300,000 goodbyes to drain at this size
            await rig.quiesce(0.5)
            data = capture.read_bytes()
            rig.reset()
            await rig.replay(data, cold_delivered)
            ceiling = rig.delivered() / rig.window_s()
            ideal_s = total / ceiling
            rows.append(
                {
                    "users": users,
                    "subscriptions": stored,
                    "online_subscriptions": total,
                    "rss_mb": rss_mb,
                    "peak_rss_mb": peak_mb,
                    "cold_start_s": cold_s,
                    "stanzas_at_cold_start": cold_delivered,
                    "component_cpu_s_cold_start": cpu_cold,
                    "ceiling_stanzas_per_s": ceiling,
                    "ideal_cold_start_s": ideal_s,
                    "cold_start_over_ideal": cold_s / ideal_s,
                    "resync_s": resync_s,
                }
            )
            await rig.quiesce(0.5)
            print(f"--- phases of the start, run {run + 1} (s from the process start) ---")
            print(phases, flush=True)
            if prof is not None and prof.exists():
                print(f"--- pyinstrument profile of the component, scale run {run + 1} ---")
                print(prof.read_text()[:8000])
    title = f"Scale: {users} users x {subscribers} raw subscribers = {users * subscribers} subscriptions"
    if watchers is not None:
        title = (
            f"Scale: {users} users, {watchers.count} watchers each watching {stored // watchers.count}"
            f" ({stored} subscriptions), {len(online)} watchers online ({total} subscriptions)"
        )
    summary = report(
        "scale",
        title,
        rows,
        [
            ("rss_mb", "RSS after start (MB)"),
            ("peak_rss_mb", "peak RSS, VmHWM (MB)"),
            ("cold_start_s", "start -> all current (s)"),
            ("stanzas_at_cold_start", "stanzas delivered at start"),
            ("component_cpu_s_cold_start", "component CPU s to get there"),
            ("ceiling_stanzas_per_s", "ceiling (raw replay) stanzas/s"),
            ("ideal_cold_start_s", "subscriptions / ceiling (s)"),
            ("cold_start_over_ideal", "cold start / ideal"),
            ("resync_s", "ws drop -> resynced (s)"),
        ],
        extra=rig.affinity_text,
    )
    rss_limit, ratio_limit = (200, 1.5) if watchers is None else (500, 1.2)
    size = f"{users:,} users" + ("" if watchers is None else f", {watchers.online_share:.0%} online")
    verdicts = [
        verdict(
            "scale",
            f"RSS after start <= {rss_limit} MB ({size})",
            summary["rss_mb"][1],
            summary["rss_mb"][1] <= rss_limit,
        ),
        verdict(
            "scale",
            f"cold start <= {ratio_limit} x online subscriptions/ceiling ({size})",
            summary["cold_start_over_ideal"][1],
            summary["cold_start_over_ideal"][1] <= ratio_limit,
        ),
    ]
    if watchers is None:  # the resync target is set at 10,000 users; larger sizes report it
        verdicts.append(
            verdict(
                "scale", "resync after ws drop <= 2 s", summary["resync_s"][1], summary["resync_s"][1] <= 2
            )
        )
    return verdicts


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the component in run 1")
    parser.add_argument("--quick", action="store_true", help="1,000 users (smoke test)")
    parser.add_argument(
        "--watchers", type=int, default=0, help="watchers are Wazo users, some offline (e.g. 50)"
    )
    parser.add_argument("--per-user", type=int, default=20, help="--watchers: watchers of each user")
    parser.add_argument("--online", type=float, default=0.3, help="--watchers: share logged in")
    parser.add_argument(
        "--no-pin", action="store_true", help="no CPU affinity: Prosody and the rest share every CPU"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.users = 1000
    print(f"machine: {machine()}")
    watchers = Watchers(args.watchers, args.per_user, args.online) if args.watchers else None
    return asyncio.run(
        bench(args.users, args.subscribers, args.runs, args.profile, watchers, pin=not args.no_pin)
    )


if __name__ == "__main__":
    main()
