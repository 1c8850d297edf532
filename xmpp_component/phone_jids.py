"""Presence stanzas addressed to phone JIDs (``alice@phone.example.org``): subscribe, probe, leave.

Answers come from the component's own store, never from slixmpp's in-memory roster (which is
empty after a restart and would tell every subscriber ``unsubscribed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Literal

from slixmpp import ComponentXMPP, Presence

from presence.identity import People
from presence.privacy import OwnerPrivacy, PrivacyPolicy, may_see
from presence.revocation import RevocationPlan, plan
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
        max_revocation_share: float = 1.0,
    ) -> None:
        self._xmpp = xmpp
        self._people = people
        self._subscriptions = subscriptions
        self._publisher = publisher
        self._policy = policy
        self._owner_privacy = owner_privacy
        self._max_revocation_share = max_revocation_share
        self.refused = 0
        # A mass revocation held back by the brake, until an administrator confirms it.
        self.pending_revocation: RevocationPlan | None = None

    def _authorized(self, owner: str, subscriber: str) -> bool:
        person = self._people().by_localpart.get(owner)
        if person is None:
            return False
        return may_see(self._policy, subscriber, person.chat_jid, self._owner_privacy(owner))

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

        The mass revocation brake (:mod:`presence.revocation`) holds back a run that would drop
        too many at once: nothing is dropped, an error says why, and :meth:`confirm_revocation`
        (an administrator's command) applies it.
        """
        revocation = self._plan_all()
        if revocation.braked(self._max_revocation_share):
            self.pending_revocation = revocation
            log.error(
                "mass revocation held back: %s, above presence.max_revocation_share (%.0f%%); nothing "
                "was dropped. Likely cause: a changed component.user_domains, presence.allow_remote_domains "
                "or presence.allow_remote_jids, or an identity setting that no longer matches those "
                "watchers. If this is intended, an administrator confirms it with the 'Confirm "
                "revocations' command (chat: confirm revocations); otherwise fix the configuration "
                "and restart",
                revocation.describe(),
                self._max_revocation_share * 100,
            )
            return 0
        self.pending_revocation = None
        return await self._drop(revocation)

    async def enforce_owner(self, owner: str) -> int:
        """After one user's privacy change: drop their watchers no longer allowed, at once.

        Never braked: one owner's choice is not a mass revocation (and must take effect even
        while a braked run waits for an administrator).
        """
        if owner not in self._people().by_localpart:
            return 0
        dropped = await self._drop(self._plan([owner]))
        if self.pending_revocation is not None:  # what the administrator will see is now less
            remaining = self._plan_all()
            self.pending_revocation = remaining if remaining.drops else None
        return dropped

    async def confirm_revocation(self) -> int:
        """An administrator confirmed: apply the enforcement as the rules stand now, unbraked."""
        revocation = self._plan_all()
        self.pending_revocation = None
        dropped = await self._drop(revocation)
        log.warning("an administrator confirmed the revocation: %d subscriptions dropped", dropped)
        return dropped

    def _plan_all(self) -> RevocationPlan:
        """What enforcement would drop now; owners unknown right now are left alone."""
        people = self._people()
        return self._plan(owner for owner in self._subscriptions.owners() if owner in people.by_localpart)

    def _plan(self, owners: Iterable[str]) -> RevocationPlan:
        drops = [
            (owner, subscriber)
            for owner in owners
            for subscriber in self._subscriptions.subscribers(owner)
            if not self._authorized(owner, subscriber)
        ]
        return plan(drops, self._subscriptions.count())

    async def _drop(self, revocation: RevocationPlan) -> int:
        dropped = 0
        for owner, subscriber in revocation.drops:
            if await self._subscriptions.remove(owner, subscriber):
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
            if not await self._subscriptions.add(owner, subscriber):  # durable before acknowledged
                # RFC 6121 3.1.3: a subscribe from someone already subscribed is answered again,
                # never ignored. Their server may have lost our state (an unsubscribe sent while
                # we were down, a restored roster), and silence would leave them pending for ever.
                log.info("%s asked again to see %s; confirming", subscriber, owner)
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
