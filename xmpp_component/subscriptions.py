"""Who is subscribed to which phone JID: the one owner of that state.

The store is the truth across restarts; this module keeps an in-memory index of it (owner →
subscribers) so that fan-out never touches the database. Subscribe/unsubscribe are rare and are
written through to the store before they are acknowledged, so an acknowledged subscription is
never lost.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict

from store import Store


class PhoneSubscriptions:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._subscribers: defaultdict[str, set[str]] = defaultdict(set)
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        self._subscribers.clear()
        # A few subscribers watch many owners: one string per JID, not one per row.
        intern = sys.intern
        for owner, subscriber in await self._store.all_phone_subscriptions():
            self._subscribers[intern(owner)].add(intern(subscriber))

    def subscribers(self, owner: str) -> frozenset[str] | set[str]:
        return self._subscribers.get(owner) or frozenset()

    def is_subscribed(self, owner: str, subscriber: str) -> bool:
        return subscriber in self._subscribers.get(owner, ())

    def owners(self) -> list[str]:
        return [owner for owner, subs in self._subscribers.items() if subs]

    def count(self) -> int:
        return sum(len(subs) for subs in self._subscribers.values())

    async def add(self, owner: str, subscriber: str) -> bool:
        """Record a subscription (durably first); False if it existed."""
        # One change at a time: a subscribe and an unsubscribe arriving together are handled in
        # their arrival order, so the store, the index and the answers sent all agree.
        async with self._lock:
            if self.is_subscribed(owner, subscriber):
                return False
            await self._store.add_phone_subscription(owner, subscriber)
            self._subscribers[owner].add(sys.intern(subscriber))
            return True

    async def remove(self, owner: str, subscriber: str) -> bool:
        async with self._lock:
            if not self.is_subscribed(owner, subscriber):
                return False
            await self._store.remove_phone_subscription(owner, subscriber)
            self._subscribers[owner].discard(subscriber)
            return True
