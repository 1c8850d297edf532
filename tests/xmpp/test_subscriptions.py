"""Phone-JID subscriptions: durable, and changes applied in arrival order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from store import Store
from xmpp_component.subscriptions import PhoneSubscriptions


async def test_subscribe_then_unsubscribe_at_once_ends_unsubscribed_everywhere(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        subscriptions = PhoneSubscriptions(store)
        added, removed = await asyncio.gather(
            subscriptions.add("alice", "bob@example.test"), subscriptions.remove("alice", "bob@example.test")
        )
        assert (added, removed) == (True, True)
        assert not subscriptions.is_subscribed("alice", "bob@example.test")
        assert await store.all_phone_subscriptions() == []


async def test_subscriptions_survive_a_reload(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        first = PhoneSubscriptions(store)
        await first.add("alice", "bob@example.test")
        await first.add("alice", "carol@example.test")
        await first.add("bob", "alice@example.test")
        second = PhoneSubscriptions(store)
        await second.load()
        assert sorted(second.owners()) == ["alice", "bob"]
        assert second.subscribers("alice") == {"bob@example.test", "carol@example.test"}
        assert second.count() == 3
