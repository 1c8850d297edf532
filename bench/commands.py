"""Click-to-call round trip under 50 concurrent users (issue 6, item 4): a real slixmpp client
sends "complete" on the XEP-0050 "Call" command -> the Wazo simulator receives the origination
(``POST /api/calld/1.0/calls``), through Prosody and the component.

Prosody (accounts written into its storage), the simulator and the component each run in their
own process; the U clients (default 50, chat JIDs ``u<i>@example.test``, matched to the Wazo
users ``u<i>`` by email) share this process's loop. Each client is one user clicking "Call" as
fast as the answers come back (closed loop, one command in flight per user, no think time):
execute "call" with the number prefilled (the next user's extension), then "complete" on the
confirmation form, N times. The client stamps the moment it hands "complete" to slixmpp, the
simulator stamps the moment the origination request reaches its HTTP handler
(``time.monotonic_ns``: CLOCK_MONOTONIC, the same clock in every process of the machine); a
call is matched to the one origination of the same user that arrived between that send and the
reply. The simulator hangs each originated call up shortly afterwards, so lines stay idle.

Each run starts a fresh component; a warm-up round (one call per user) is not counted. There is
no numeric target in issue 6: the verdict is met when every call of every run originated and was
matched (the figures are reported as measured).

    .venv/bin/python -m bench.commands [--users 50] [--calls 20] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.rig import (
    COMPONENT,
    DOMAIN,
    PY,
    Child,
    Component,
    component_config,
    cpu_seconds,
    machine,
    percentile,
    report,
    start_prosody,
    verdict,
)

ORIGINATE_PATH = "/api/calld/1.0/calls"
HANGUP_AFTER = 0.2  # seconds the caller's phone rings before the simulator hangs the call up
EXTEN_BASE = 100000  # bench._sim.world: user u<i> has extension 100000 + i


def chat_password(index: int) -> str:
    return f"pw-chat-{index}"


# --- the simulator process: bench._sim's world, plus a log of every origination ---------------


async def serve_sim(users: int) -> None:
    from aiohttp import web

    from bench._sim import indexed, world
    from wazo_sim.app import WazoSimulator, build_app
    from wazo_sim.config import parse_config

    config = indexed(parse_config(world(users, DOMAIN)))
    loop = asyncio.get_running_loop()
    records: list[tuple[int, str, str, int]] = []  # arrival ns, username, extension, HTTP status
    names = {user.uuid: user.username for user in config.users}

    class RecordingSim(WazoSimulator):
        async def start(self) -> None:
            app = build_app(self.core)

            @web.middleware
            async def record(
                request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
            ) -> web.StreamResponse:
                if request.method != "POST" or request.path != ORIGINATE_PATH:
                    return await handler(request)
                arrived = time.monotonic_ns()
                body = await request.json()  # aiohttp keeps the body: the handler reads it again
                source = body.get("source") or {}
                who = names.get(str(source.get("user")), "?")
                extension = str((body.get("destination") or {}).get("extension", ""))
                try:
                    response = await handler(request)
                except web.HTTPException as error:
                    records.append((arrived, who, extension, error.status))
                    raise
                except Exception:
                    records.append((arrived, who, extension, 500))
                    raise
                records.append((arrived, who, extension, response.status))
                if response.status == 201 and isinstance(response, web.Response) and response.body:
                    call_id = json.loads(bytes(response.body))["call_id"]  # type: ignore[arg-type]
                    loop.call_later(HANGUP_AFTER, hang_up, call_id)
                return response

            app.middlewares.append(record)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, self._host, self._port).start()
            self.port = int(self._runner.addresses[0][1])

    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line)
        loop.call_soon_threadsafe(commands.put_nowait, '{"cmd": "quit"}')

    threading.Thread(target=read_stdin, daemon=True).start()
    async with RecordingSim(config) as sim:

        def hang_up(call_id: str) -> None:
            if call_id in sim.core.state.calls:
                sim.hangup(call_id=call_id)

        print(json.dumps({"ready": True, "base_url": sim.base_url}), flush=True)
        while True:
            try:
                command = json.loads(await commands.get())
            except ValueError:  # Child.stop() says "stop" before the JSON quit
                continue
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "collect":
                # The originations so far (then forgotten), after hanging up whatever still rings.
                await asyncio.sleep(HANGUP_AFTER + 0.05)
                leftover = list(sim.core.state.calls)
                for call_id in leftover:
                    hang_up(call_id)
                with open(command["log"], "w") as out:  # noqa: ASYNC230  # outside the timed part
                    out.writelines(f"{t} {who} {ext} {status}\n" for t, who, ext, status in records)
                answer = {"ok": True, "count": len(records), "leftover_calls": len(leftover)}
                records.clear()
            else:
                answer = {"ok": False, "error": f"unknown command {command['cmd']!r}"}
            print(json.dumps(answer), flush=True)


class CallSimulator(Child):
    def __init__(self, workdir: Path, users: int) -> None:
        super().__init__(
            [PY, "-m", "bench.commands", "--serve-sim", "--users", str(users)], workdir / "sim.log"
        )
        self.base_url = ""

    async def ready(self) -> None:
        line = await self.expect(lambda line: line.get("ready", False), 120)
        self.base_url = line["base_url"]

    async def collect(self, log: Path) -> list[tuple[int, str, str, int]]:
        self.events.clear()
        while not self.lines.empty():
            self.lines.get_nowait()
        self.send(json.dumps({"cmd": "collect", "log": str(log)}))
        await self.expect(lambda line: "ok" in line, 60)
        out = []
        for row in log.read_text().splitlines():
            t, who, ext, status = row.split()
            out.append((int(t), who, ext, int(status)))
        return out


# --- the clients -------------------------------------------------------------------------------


@dataclass
class Attempt:
    user: str
    sent_ns: int  # "complete" handed to slixmpp
    replied_ns: int  # the command's final answer received
    ok: bool
    detail: str = ""


@dataclass
class User:
    index: int
    client: Any
    target: str  # the extension this user calls
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"u{self.index}"

    async def command(self, **kwargs: Any) -> Any:
        return await self.client.plugin["xep_0050"].send_command(COMPONENT, "call", timeout=30, **kwargs)

    async def call_once(self) -> Attempt:
        form = self.client.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="number", value=self.target)
        try:
            first = await self.command(action="execute", payload=form)
            if first["command"]["status"] != "executing":
                raise RuntimeError(
                    f"execute answered {first['command']['status']}: {first['command']['notes']}"
                )
            session = first["command"]["sessionid"]
            sent = time.monotonic_ns()
            final = await self.command(action="complete", sessionid=session)
            replied = time.monotonic_ns()
        except Exception as error:  # an IqError/IqTimeout is a failed call, not a crashed benchmark
            now = time.monotonic_ns()
            return Attempt(self.name, now, now, False, f"{type(error).__name__}: {error}"[:200])
        notes = [(str(kind), str(text)) for kind, text in final["command"]["notes"]]
        ok = final["command"]["status"] == "completed" and bool(notes) and notes[0][0] == "info"
        return Attempt(self.name, sent, replied, ok, "" if ok else repr(notes)[:200])

    async def calls(self, count: int, start: asyncio.Event, think: float) -> None:
        await start.wait()
        for _ in range(count):
            self.attempts.append(await self.call_once())
            if think:
                await asyncio.sleep(think)


async def connect_users(users: int, port: int) -> list[User]:
    from devservers.xmpp_client import connect_client

    out: list[User] = []
    for first in range(0, users, 10):  # ten logins at a time: Prosody's SASL is CPU-bound
        batch = range(first, min(users, first + 10))
        clients = await asyncio.gather(
            *(connect_client(f"u{i}@{DOMAIN}", chat_password(i), port, timeout=30) for i in batch)
        )
        out += [User(i, c, str(EXTEN_BASE + (i + 1) % users)) for i, c in zip(batch, clients, strict=True)]
    return out


async def close_users(users: list[User]) -> None:
    from devservers.xmpp_client import disconnect_client

    for user in users:
        with contextlib.suppress(Exception):
            await disconnect_client(user.client)


async def round_of_calls(users: list[User], calls: int, think: float) -> float:
    """Every user places ``calls`` calls, all users at once; returns the wall time in seconds."""
    for user in users:
        user.attempts.clear()
    start = asyncio.Event()
    tasks = [asyncio.create_task(user.calls(calls, start, think)) for user in users]
    began = time.monotonic_ns()
    start.set()
    await asyncio.gather(*tasks)
    return (time.monotonic_ns() - began) / 1e9


def match(
    attempts: list[Attempt], originations: list[tuple[int, str, str, int]]
) -> tuple[list[float], list[float], int, int]:
    """(send -> origination ms, send -> reply ms, calls not matched, originations refused)."""
    by_user: dict[str, list[int]] = {}
    refused = 0
    for arrived, who, _ext, status in originations:
        if status == 201:
            by_user.setdefault(who, []).append(arrived)
        else:
            refused += 1
    to_origination, to_reply, unmatched = [], [], 0
    for attempt in attempts:
        if not attempt.ok:
            unmatched += 1
            continue
        inside = [t for t in by_user.get(attempt.user, []) if attempt.sent_ns <= t <= attempt.replied_ns]
        if len(inside) != 1:
            unmatched += 1
            continue
        to_origination.append((inside[0] - attempt.sent_ns) / 1e6)
        to_reply.append((attempt.replied_ns - attempt.sent_ns) / 1e6)
    return to_origination, to_reply, unmatched, refused


# --- the benchmark -----------------------------------------------------------------------------


# Component CPU time per command (user + system of its process over the timed round, divided by
# the calls completed): the target of the performance issue, on the same runs as the latencies.
CPU_PER_COMMAND_TARGET_MS = 0.7


async def bench(
    users: int, calls: int, runs: int, think: float, profile: Path | None = None
) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="phonepresence-bench-commands-"))
    prosody = sim = None
    clients: list[User] = []
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        prosody = start_prosody(workdir / "prosody", {f"u{i}": chat_password(i) for i in range(users)})
        assert prosody.process is not None
        sim = CallSimulator(workdir, users)
        await sim.ready()
        clients = await connect_users(users, prosody.c2s_port)
        for run in range(runs + (profile is not None)):
            config = component_config(prosody, sim.base_url, workdir / f"run{run}.sqlite")
            config["calls"] = {"max_calls_per_minute": 1000}  # the most the configuration allows
            # With --profile, one more run under pyinstrument (its sampling costs the component CPU,
            # so that run is left out of the CPU verdict).
            profiled = profile if run == runs else None
            component = Component(workdir, config, profiled)
            try:
                await component.wait("online")
                await component.wait("provisioned")
                await component.wait("synced", resyncs=1)
                await round_of_calls(clients, 1, 0)  # warm-up: not counted
                warm = [a for u in clients for a in u.attempts]
                warm_originations = await sim.collect(workdir / f"warmup-{run}.txt")
                _lat, _rep, warm_lost, _refused = match(warm, warm_originations)
                if warm_lost:
                    failures += [f"run {run + 1} warm-up: {a.user}: {a.detail}" for a in warm if not a.ok]
                pids = (component.pid, prosody.process.pid, sim.pid, os.getpid())
                cpu_before = [cpu_seconds(pid) for pid in pids]
                wall = await round_of_calls(clients, calls, think)
                cpu_after = [cpu_seconds(pid) for pid in pids]
                attempts = [a for u in clients for a in u.attempts]
                originations = await sim.collect(workdir / f"originations-{run}.txt")
            finally:
                await component.stop()
            latencies, replies, unmatched, refused = match(attempts, originations)
            failures += [f"run {run + 1}: {a.user}: {a.detail}" for a in attempts if not a.ok]
            ordered, ordered_replies = sorted(latencies), sorted(replies)
            results.append(
                {
                    "calls": len(attempts),
                    "p50_ms": percentile(ordered, 0.50),
                    "p99_ms": percentile(ordered, 0.99),
                    "max_ms": ordered[-1] if ordered else float("nan"),
                    "reply_p50_ms": percentile(ordered_replies, 0.50),
                    "reply_p99_ms": percentile(ordered_replies, 0.99),
                    "unmatched": unmatched + warm_lost,
                    "refused": refused,
                    "calls_per_s": len(attempts) / wall,
                    "component_cpu_pct": 100 * (cpu_after[0] - cpu_before[0]) / wall,
                    "component_cpu_ms_per_call": 1000
                    * (cpu_after[0] - cpu_before[0])
                    / max(1, len(attempts)),
                    "profiled": profiled is not None,
                    "prosody_cpu_pct": 100 * (cpu_after[1] - cpu_before[1]) / wall,
                    "sim_cpu_pct": 100 * (cpu_after[2] - cpu_before[2]) / wall,
                    "clients_cpu_pct": 100 * (cpu_after[3] - cpu_before[3]) / wall,
                }
            )
    finally:
        await close_users(clients)
        if sim is not None:
            await sim.stop()
        if prosody is not None:
            prosody.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    for line in failures[:10]:
        print(f"failed call: {line}")
    summary = report(
        "commands",
        f'Click-to-call: "complete" sent -> origination at the simulator, {users} concurrent users, '
        f"{calls} calls each per run (closed loop, think time {think:g} s)",
        results,
        [
            ("p50_ms", "p50 submit->origination (ms)"),
            ("p99_ms", "p99 submit->origination (ms)"),
            ("max_ms", "max submit->origination (ms)"),
            ("reply_p50_ms", "p50 submit->reply (ms)"),
            ("reply_p99_ms", "p99 submit->reply (ms)"),
            ("unmatched", "calls not originated"),
            ("refused", "originations refused"),
            ("calls_per_s", "calls/s completed"),
            ("component_cpu_pct", "component CPU (% core)"),
            ("component_cpu_ms_per_call", "component CPU per command (ms)"),
            ("prosody_cpu_pct", "Prosody CPU (% core)"),
            ("sim_cpu_pct", "simulator CPU (% core)"),
            ("clients_cpu_pct", "clients' process CPU (% core)"),
        ],
    )
    complete = (
        len(results) == runs + (profile is not None)
        and all(r["calls"] == users * calls and r["unmatched"] == 0 and r["refused"] == 0 for r in results)
        and not failures
    )
    # The CPU verdict ignores a profiled run (pyinstrument's sampling costs the component CPU).
    cpu_runs = sorted(r["component_cpu_ms_per_call"] for r in results if not r["profiled"])
    cpu_median = statistics.median(cpu_runs) if cpu_runs else float("nan")
    if cpu_runs:
        print(f"component CPU per command, unprofiled runs: min {cpu_runs[0]:.3f} median {cpu_median:.3f} ms")
    return [
        verdict(
            "commands",
            f"component CPU per command, median of runs <= {CPU_PER_COMMAND_TARGET_MS} ms",
            cpu_median,
            complete and bool(cpu_runs) and cpu_median <= CPU_PER_COMMAND_TARGET_MS,
        ),
        verdict(
            "commands",
            f"all {users} users' calls originate; p50 reported, ms",
            summary["p50_ms"][1],
            complete,
        ),
        verdict(
            "commands",
            f"all {users} users' calls originate; p99 reported, ms",
            summary["p99_ms"][1],
            complete,
        ),
    ]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20, help="calls per user per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--think", type=float, default=0.0, help="seconds between a user's calls")
    parser.add_argument("--quick", action="store_true", help="3 calls per user per run (smoke test)")
    parser.add_argument("--profile", type=Path, help="pyinstrument report of the component (last run)")
    parser.add_argument("--serve-sim", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.serve_sim:
        logging.basicConfig(level=logging.WARNING)
        asyncio.run(serve_sim(args.users))
        return []
    if args.quick:
        args.calls = 3
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {machine()}")
    return asyncio.run(bench(args.users, args.calls, args.runs, args.think, args.profile))


if __name__ == "__main__":
    main()
