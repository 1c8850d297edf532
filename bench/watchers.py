"""Who is sent what, in process: N users each watching 20 colleagues, a share of them online.

No XMPP server and no Wazo: the real PhoneSubscriptions (loaded from a real store), ChatSessions
and Publisher write to a sink that counts stanzas, with a socket stand-in that is always drained
(so publish_all takes its paced path, 100 owners per write). CPU time (``time.process_time``) is
measured, not wall time: the figures hold on a shared machine. What this leaves out is the cost
of the socket write itself and of the XMPP server; the wire benchmarks (fanout, scale) have those.

Per run: the process's RSS once the subscriptions are loaded and who is online learnt; the cold-start
resend (stanzas, publisher CPU per stanza); 10,000 changes one tick each (CPU per stanza
delivered); a reconnect with 1 % of users changed while the link was down, every watcher's
session proven older than the last answered ping (stanzas), and the same without that proof.

    .venv/bin/python -m bench.watchers [--users 50000] [--watches 20] [--online 0.3] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench._sim import user_name
from bench.rig import COMPONENT, DOMAIN, machine, report, verdict
from presence.chat_sessions import ChatSessions
from presence.hub import PresenceHub
from presence.im import ImResources
from presence.model import ImShow, ImState
from store import Store
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions

ONLINE = ImResources().available("desk")


@dataclass
class _Jid:
    bare: str


class _Drained:
    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class Sink:
    """Stands in for the component's stream: counts what would be written."""

    boundjid: _Jid = field(default_factory=lambda: _Jid(COMPONENT))
    transport: _Drained = field(default_factory=_Drained)
    stanzas: int = 0

    def send(self, data: str) -> None:
        self.stanzas += data.count("<presence")


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


async def make_store(path: Path, users: int, watches: int) -> int:
    async with Store(path):
        pass
    rows = (
        (user_name(owner), f"{user_name(watcher)}@{DOMAIN}", user_name(owner))
        for watcher in range(users)
        for owner in ((watcher + k) % users for k in range(1, watches + 1))
    )
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO phone_subscriptions (owner, subscriber, owner_uuid) VALUES (?, ?, ?)", rows
        )
    return users * watches


async def until_published(publisher: Publisher) -> None:
    while publisher.backlog():  # noqa: ASYNC110  # the publisher signals no drain (see publisher.py)
        await asyncio.sleep(0)


async def one_run(store_path: Path, users: int, online_share: float) -> dict[str, Any]:
    async with Store(store_path) as store:
        subscriptions = PhoneSubscriptions(store)
        await subscriptions.load()
        total = subscriptions.count()
        sessions = ChatSessions()
        watchers = [f"{user_name(i)}@{DOMAIN}" for i in range(users)]
        # Spread over the ring of colleagues (a block of neighbours all offline would flatter it).
        is_online = [i * 37 % 100 < round(online_share * 100) for i in range(users)]
        for jid, up in zip(watchers, is_online, strict=True):
            sessions.update(jid, ONLINE if up else ImResources())
        hub, sink, link = PresenceHub(), Sink(), [True]
        publisher = Publisher(sink, hub, subscriptions, lambda: link[0], sessions)  # type: ignore[arg-type]
        gc.collect()
        rss_loaded = rss_mb()
        online_subscriptions = total // users * sum(is_online)  # every watcher watches as many

        cpu = time.process_time()
        publisher.publish_all()
        await until_published(publisher)
        cold_cpu = time.process_time() - cpu
        cold = sink.stanzas

        sink.stanzas = 0
        cpu = time.process_time()
        for i in range(10_000):
            hub.apply_im(user_name(i * 7 % users), ImState(ImShow.AWAY if i % 2 else ImShow.DND, ""))
            await asyncio.sleep(0)  # one change per tick: the worst case for coalescing
        change_cpu = time.process_time() - cpu
        changes = sink.stanzas

        # A reconnect: a keepalive pong proved everything, 1 % of users change while down.
        publisher.delivered(publisher.checkpoint())
        link[0] = False
        for i in range(0, users, 100):
            hub.apply_im(user_name(i), ImState(ImShow.XA, "gone"))
        await asyncio.sleep(0)
        link[0] = True
        sink.stanzas = 0
        sessions.new_stream(publisher.new_stream())
        old = time.time() - 3600
        for jid, up in zip(watchers, is_online, strict=True):
            sessions.update(jid, ONLINE if up else ImResources(), stamp=old)
        publisher.publish_all()
        await until_published(publisher)
        reconnect = sink.stanzas

        sink.stanzas = 0  # the same, with nothing proven (no keepalive answered, or no stamps)
        sessions.new_stream(publisher.new_stream())
        for jid, up in zip(watchers, is_online, strict=True):
            sessions.update(jid, ONLINE if up else ImResources())
        publisher.publish_all()
        await until_published(publisher)
        unproven = sink.stanzas
    return {
        "subscriptions": total,
        "online_subscriptions": online_subscriptions,
        "rss_loaded_mb": rss_loaded,
        "cold_stanzas": cold,
        "cold_us_per_stanza": cold_cpu / max(cold, 1) * 1e6,
        "change_stanzas": changes,
        "change_us_per_stanza": change_cpu / max(changes, 1) * 1e6,
        "reconnect_stanzas": reconnect,
        "reconnect_unproven_stanzas": unproven,
    }


async def bench(users: int, watches: int, online: float, runs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="phonepresence-watchers-") as tmp:
        path = Path(tmp) / "store.sqlite"
        await make_store(path, users, watches)
        rows = [await one_run(path, users, online) for _ in range(runs)]
    summary = report(
        "watchers",
        f"Who is sent what: {users} users x {watches} watched, {online:.0%} of watchers online (in process)",
        rows,
        [
            ("subscriptions", "subscriptions"),
            ("online_subscriptions", "subscriptions of online watchers"),
            ("rss_loaded_mb", "RSS once loaded, whole process (MB)"),
            ("cold_stanzas", "stanzas at cold start"),
            ("cold_us_per_stanza", "publisher CPU per stanza, cold start (us)"),
            ("change_stanzas", "stanzas for 10,000 changes"),
            ("change_us_per_stanza", "publisher CPU per stanza, changes (us)"),
            ("reconnect_stanzas", "stanzas after a reconnect, 1 % changed"),
            ("reconnect_unproven_stanzas", "same, delivery not proven"),
        ],
    )
    cold = summary["cold_stanzas"][1]
    return [
        verdict(
            "watchers",
            "cold start sends only to online watchers",
            cold,
            cold == summary["online_subscriptions"][1],
        ),
        verdict(
            "watchers",
            "publisher CPU per delivered stanza <= 8 us (in process)",
            summary["change_us_per_stanza"][1],
            summary["change_us_per_stanza"][1] <= 8,
        ),
    ]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--watches", type=int, default=20)
    parser.add_argument("--online", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5,000 users, 1 run (smoke test)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument report of the runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.runs = 5_000, 1
    print(f"machine: {machine()}")
    if not args.profile:
        return asyncio.run(bench(args.users, args.watches, args.online, args.runs))
    from pyinstrument import Profiler

    with Profiler(async_mode="disabled") as profiler:
        verdicts = asyncio.run(bench(args.users, args.watches, args.online, args.runs))
    print(profiler.output_text(unicode=False, color=False)[:8000])
    return verdicts


if __name__ == "__main__":
    main()
