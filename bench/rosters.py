"""Connect cost of ``roster_colleagues`` (XEP-0356 roster writing), before and after the roster sync
by difference: roster stanzas the component sends, and seconds from the handshake to the rosters
written, on a first connect (empty rosters, empty store) and on a reconnect where nothing changed.

"Before" is the code of commit BEFORE (``git archive`` into a temp folder: every roster rewritten
in full at every connect, one roster set per user holding every colleague); "after" is this tree.
Prosody 0.12 + mod_privilege (roster = both, presence = managed_entity) with ``--users`` accounts,
the Wazo simulator with the same users, the component in its own process; everything on 127.0.0.1.

Every roster holds every colleague, so a first connect writes users x (users - 1) items whatever
the code; and mod_privilege saves the user's whole roster once per item it receives. A phase
that has not finished after ``--budget`` seconds is stopped and reported with what it did so
far (rosters are written one after the other, so the rate extrapolates linearly to all users).

    .venv/bin/python -m bench.rosters [--users 5000] [--budget 40] [--full-users 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._sim import SERVICE_PASSWORD, SERVICE_USER, user_name
from bench.rig import COMPONENT, DOMAIN, PY, ROOT, SECRET, Child, Simulator, _encode, machine, verdict
from devservers.prosody import ProsodyServer

BEFORE = "717b8f2"  # the last commit writing every roster in full at every connect


def start_prosody(workdir: Path, users: int) -> ProsodyServer:
    """Privileged Prosody whose ``users`` accounts are written straight into its storage."""
    server = ProsodyServer(
        workdir, component=COMPONENT, component_secret=SECRET, users={}, other_users={}, privileged=True
    )
    folder = workdir / "data" / _encode(DOMAIN) / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(users):
        (folder / f"{_encode(user_name(i))}.dat").write_text('return {\n\t["password"] = "pw";\n};\n')
    server.start()
    return server


def config(prosody: ProsodyServer, sim_url: str, store: Path) -> dict[str, Any]:
    return {
        "component": {"jid": COMPONENT, "server_port": prosody.component_port},
        "store": {"path": str(store)},
        "wazo": {"enabled": True, "base_url": sim_url, "username": SERVICE_USER},
        "presence": {"privilege_grace": 5.0, "roster_colleagues": True},
        "logging": {"level": "warning"},
        "env": {"PHONEPRESENCE_COMPONENT_SECRET": SECRET, "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD},
    }


class RosterComponent(Child):
    def __init__(self, workdir: Path, code: Path, cfg: dict[str, Any], name: str) -> None:
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(cfg))
        script = ROOT / "bench" / "_roster_component.py"
        super().__init__([PY, str(script), str(path), "--code", str(code)], workdir / f"{name}.log")


async def phase(
    workdir: Path, code: Path, prosody: ProsodyServer, sim: Simulator, store: Path, name: str, budget: float
) -> dict[str, Any]:
    component = RosterComponent(workdir, code, config(prosody, sim.base_url, store), name)
    try:
        session = await component.expect(lambda line: line.get("ev") == "session", 60)
        try:
            end = await component.expect(lambda line: line.get("ev") == "rosters", budget)
            finished = True
        except TimeoutError:
            progress = [line for line in component.events if line.get("ev") == "progress"]
            end = progress[-1] if progress else {**session, "gets": 0, "sets": 0, "items": 0}
            finished = False
    finally:
        await component.stop()
    return {
        "phase": name,
        "finished": finished,
        "seconds": (end["t_ns"] - session["t_ns"]) / 1e9,
        "roster_gets": end["gets"],
        "roster_sets": end["sets"],
        "items_written": end["items"],
    }


async def measure(users: int, budget: float, before_code: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="phonepresence-bench-rosters-") as tmp:
        workdir = Path(tmp)
        sim = Simulator(workdir, users)
        try:
            await sim.ready()
            for label, code in (("before", before_code), ("after", ROOT)):
                prosody = start_prosody(workdir / f"prosody-{label}", users)
                try:
                    store = workdir / f"{label}.sqlite"
                    for connect in ("first connect", "reconnect, nothing changed"):
                        name = f"{label}-{connect.split(',')[0].replace(' ', '-')}"
                        row = await phase(workdir, code, prosody, sim, store, name, budget)
                        rows.append({"users": users, "code": label, "connect": connect, **row})
                        print(json.dumps({"bench": "rosters", **rows[-1]}), flush=True)
                        if not row["finished"]:
                            break  # a reconnect after an unfinished first connect means nothing
                finally:
                    prosody.stop()
        finally:
            await sim.stop()
    return rows


def table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'users':>6} {'code':<7} {'connect':<27} {'roster gets':>11} {'roster sets':>11} "
        f"{'items':>10} {'seconds':>9}  result"
    )
    for r in rows:
        users = r["users"]
        result = "rosters written"
        if not r["finished"]:
            done = r["roster_sets"] if r["code"] == "before" else r["items_written"]
            total = users if r["code"] == "before" else users * (users - 1) + users
            rate = done / r["seconds"] if r["seconds"] else 0.0
            eta = total / rate if rate else float("inf")
            unit = "rosters" if r["code"] == "before" else "items"
            result = f"stopped at the budget: {done:,} of {total:,} {unit}"
            result += f", ~{eta / 3600:.1f} h for all at that rate"
        print(
            f"{users:>6} {r['code']:<7} {r['connect']:<27} {r['roster_gets']:>11,} {r['roster_sets']:>11,} "
            f"{r['items_written']:>10,} {r['seconds']:>9.2f}  {result}"
        )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--full-users", type=int, default=50, help="a size where every phase finishes")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per phase at --users")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.full_users, args.budget = 500, 30, 10.0
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="phonepresence-before-") as old:
        archive = subprocess.run(["git", "archive", BEFORE], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
        started = time.monotonic()
        rows = asyncio.run(measure(args.full_users, 600.0, Path(old)))
        rows += asyncio.run(measure(args.users, args.budget, Path(old)))
    print()
    print(f"Roster writing with roster_colleagues ({time.monotonic() - started:.0f} s in all)")
    table(rows)
    return verdicts(rows, args.users)


def verdicts(rows: list[dict[str, Any]], users: int) -> list[dict[str, Any]]:
    """Reported figures of this tree's code ("after"): no numeric target. A first connect is met
    when it ran (finished, or measured up to the budget: users x (users - 1) items cannot all be
    written in a budget at 5,000 users); a reconnect where nothing changed is met when it wrote
    nothing."""
    out = []
    for r in rows:
        if r["code"] != "after":
            continue
        stanzas = r["roster_gets"] + r["roster_sets"]
        again = r["connect"] != "first connect"
        where = f"{r['users']} users, {'reconnect, nothing changed' if again else 'first connect'}"
        if not r["finished"]:
            where += " (budget)"
        ok = r["roster_sets"] == 0 if again else stanzas > 0
        out.append(verdict("rosters", f"XEP-0356 {where}: roster stanzas, reported", stanzas, ok))
        out.append(verdict("rosters", f"XEP-0356 {where}: seconds, reported", r["seconds"], ok))
    if not any(r["users"] == users and r["code"] == "after" for r in rows):
        out.append(verdict("rosters", f"XEP-0356 {users} users measured", float("nan"), False))
    return out


if __name__ == "__main__":
    main()
