"""What one read of Wazo's users costs the component, in process: N users, each watching 20.

No HTTP and no XMPP server: the simulator's own confd pages (default view, 500 users a page) are
decoded and parsed, the users mapped to chat JIDs (``build_people``, without and with identity
overrides), then the per-read work over the subscriptions: adopting rows without an owner and the
privacy enforcement (``PhoneJidService.enforce_policy``, nothing to drop). CPU time
(``time.process_time``), best of the runs: the figures hold on a shared machine.

    .venv/bin/python -m bench.provision [--users 50000] [--watches 20] [--overrides 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench._sim import indexed, user_name, world
from bench.rig import DOMAIN
from presence.identity import MatchRule, PbxUser, People, build_people
from presence.privacy import OwnerPrivacy, PrivacyPolicy
from presence.sources.wazo.confd import WazoUser, parse_user_list
from wazo_sim.config import parse_config
from wazo_sim.core import SimCore
from wazo_sim.http_confd import _user_full
from xmpp_component.phone_jids import PhoneJidService
from xmpp_component.subscriptions import PhoneSubscriptions

PAGE = 500


class _Store:
    """The store's side of loading and adopting subscriptions, from memory."""

    def __init__(self, rows: list[tuple[str, str, str | None]]) -> None:
        self._rows = rows

    async def phone_subscription_groups(self) -> AsyncIterator[list[tuple[str, str | None, list[str]]]]:
        groups: dict[tuple[str, str | None], list[str]] = {}
        for alias, subscriber, owner_uuid in self._rows:
            groups.setdefault((alias, owner_uuid), []).append(subscriber)
        yield [(alias, owner_uuid, subscribers) for (alias, owner_uuid), subscribers in groups.items()]

    async def adopt_phone_subscriptions(self, alias: str, owner_uuid: str) -> None:
        pass


class _Jid:
    bare = f"phone.{DOMAIN}"


class _Xmpp:
    boundjid = _Jid()


def _cpu(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = action()
    return time.process_time() - start, result


def _people(users: list[WazoUser], overrides: dict[str, str]) -> People:
    pbx = (PbxUser(u.uuid, u.email, u.username, u.display_name) for u in users)
    return build_people(pbx, MatchRule.EMAIL, (DOMAIN,), overrides)[0]


def run(users: int, watches: int, overrides: int, runs: int) -> dict[str, float]:
    core = SimCore(indexed(parse_config(world(users, DOMAIN))))
    sim_users = core.config.users
    pages = [
        json.dumps({"items": [_user_full(core, u) for u in sim_users[s : s + PAGE]], "total": users})
        for s in range(0, users, PAGE)
    ]
    # The last users named by an override: the worst case for a scan of the list.
    forced = {f"alias{i}@{DOMAIN}": f"{user_name(users - 1 - i)}@{DOMAIN}" for i in range(overrides)}
    rows = [
        (user_name(owner), f"{user_name(watcher)}@{DOMAIN}", sim_users[owner].uuid)
        for watcher in range(users)
        for owner in ((watcher + k) % users for k in range(1, watches + 1))
    ]
    subscriptions = PhoneSubscriptions(_Store(rows))  # type: ignore[arg-type]
    asyncio.run(subscriptions.load())
    del rows
    best: dict[str, float] = {}
    for _ in range(runs):
        for key, value in _one_read(pages, forced, subscriptions).items():
            best[key] = min(best.get(key, value), value)
    return best


def _one_read(
    pages: list[str], forced: dict[str, str], subscriptions: PhoneSubscriptions
) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["json"], bodies = _cpu(lambda: [json.loads(page) for page in pages])
    figures["parse"], parsed = _cpu(lambda: [u for body in bodies for u in parse_user_list(body)])
    figures["build_people"], people = _cpu(lambda: _people(parsed, {}))
    figures["build_people_overrides"], _ = _cpu(lambda: _people(parsed, forced))
    figures["adopt"], _ = _cpu(lambda: asyncio.run(subscriptions.adopt(people)))
    privacy: dict[str, OwnerPrivacy] = {}
    default = OwnerPrivacy()
    service = PhoneJidService(
        _Xmpp(),  # type: ignore[arg-type]
        lambda: people,
        subscriptions,
        None,  # type: ignore[arg-type]  # nothing is published: nobody is dropped
        PrivacyPolicy(frozenset({DOMAIN})),
        lambda uuid: privacy.get(uuid, default),
    )
    figures["enforce_policy"], dropped = _cpu(lambda: asyncio.run(service.enforce_policy()))
    assert dropped == 0
    return figures


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--watches", type=int, default=20)
    parser.add_argument("--overrides", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.runs = 2_000, 1
    best = run(args.users, args.watches, args.overrides, args.runs)
    print(
        f"one read of {args.users:,} users, {args.users * args.watches:,} subscriptions "
        f"(CPU s, best of {args.runs}):"
    )
    labels = {
        "json": "confd pages: json.loads",
        "parse": "confd users: parse_user_list",
        "build_people": "build_people",
        "build_people_overrides": f"build_people, {args.overrides} overrides",
        "adopt": "PhoneSubscriptions.adopt",
        "enforce_policy": "PhoneJidService.enforce_policy",
    }
    for key, label in labels.items():
        print(f"  {label:<40} {best[key]:7.3f}")
    print(
        json.dumps({"bench": "provision", "users": args.users, **{k: round(v, 4) for k, v in best.items()}})
    )
    return []


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
