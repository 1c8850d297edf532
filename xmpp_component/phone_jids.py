"""Presence stanzas addressed to phone JIDs (``alice@phone.example.org``): subscribe, probe, leave.

Answers come from the component's own store, never from slixmpp's in-memory roster (which is
empty after a restart and would tell every subscriber ``unsubscribed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from slixmpp import ComponentXMPP, Presence

from presence.identity import People
from presence.privacy import OwnerPrivacy, PrivacyPolicy, may_see
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)


class PhoneJidService:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        people: Callable[[], People],
        subscriptions: PhoneSubscriptions,
        publisher: Publisher,
        policy: PrivacyPolicy,
        owner_privacy: Callable[[str], OwnerPrivacy] = lambda _owner: OwnerPrivacy(),
    ) -> None:
        self._xmpp = xmpp
        self._people = people
        self._subscriptions = subscriptions
        self._publisher = publisher
        self._policy = policy
        self._owner_privacy = owner_privacy
        self.refused = 0

    def _authorized(self, owner: str, subscriber: str) -> bool:
        person = self._people().by_localpart.get(owner)
        if person is None:
            return False
        return may_see(self._policy, subscriber, person.chat_jid, self._owner_privacy(owner))

    def may_see(self, owner: str, requester: str) -> bool:
        """Whether ``requester`` (bare JID) may see the phone JID ``owner`` (its card too)."""
        return self._authorized(owner, requester)

    def _reply(self, ptype: Literal["subscribed", "unsubscribed"], owner: str, to: str) -> None:
        self._xmpp.send_presence_subscription(
            pto=to, pfrom=f"{owner}@{self._xmpp.boundjid.bare}", ptype=ptype
        )

    async def enforce_policy(self) -> int:
        """Drop the stored subscriptions the policy no longer allows, telling each watcher.

        Run after each read of the users: fan-out sends to every stored subscriber, so a watcher
        whose domain was removed from the allow list (or whom the owner now hides from) must go
        from the store, not just be ignored on probes. Owners unknown right now are left alone:
        a user missing from one read of Wazo keeps their watchers.
        """
        dropped = 0
        people = self._people()
        for owner in self._subscriptions.owners():
            if owner not in people.by_localpart:
                continue
            for subscriber in list(self._subscriptions.subscribers(owner)):
                if not self._authorized(owner, subscriber) and await self._subscriptions.remove(
                    owner, subscriber
                ):
                    self._reply("unsubscribed", owner, subscriber)
                    dropped += 1
        if dropped:
            log.info("dropped %d subscriptions the privacy rules no longer allow", dropped)
        return dropped

    async def handle(self, pres: Presence) -> None:
        owner = pres["to"].user.lower()
        subscriber = pres["from"].bare.lower()
        ptype = pres["type"]
        if ptype == "subscribe":
            if not self._authorized(owner, subscriber):
                self.refused += 1
                log.info("refused %s's subscription to %s@%s", subscriber, owner, self._xmpp.boundjid.bare)
                self._reply("unsubscribed", owner, subscriber)
                return
            await self._subscriptions.add(owner, subscriber)  # durable before it is acknowledged
            self._reply("subscribed", owner, subscriber)
            self._publisher.send_current(owner, subscriber)
        elif ptype in ("unsubscribe", "unsubscribed"):
            # unsubscribe: they stop watching; unsubscribed: they cancel our (nonexistent) view of
            # them, which their server also sends when removing the contact; both end the watch.
            if await self._subscriptions.remove(owner, subscriber):
                log.info("%s no longer sees %s", subscriber, owner)
            if ptype == "unsubscribe":
                self._reply("unsubscribed", owner, subscriber)
        elif ptype == "probe":
            if self._subscriptions.is_subscribed(owner, subscriber):
                if self._authorized(owner, subscriber):
                    self._publisher.send_current(owner, str(pres["from"]))
                # else: the owner hid their phone since; say nothing rather than "unsubscribed"
            elif self._authorized(owner, subscriber):
                # Their roster thinks they are subscribed but we have no record: say so plainly.
                self._reply("unsubscribed", owner, subscriber)
            # Strangers' probes get nothing: not even whether the phone JID exists.
        # subscribed/available/unavailable sent to a phone JID carry nothing for us.
