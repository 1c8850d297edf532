"""Presence stanzas addressed to phone JIDs (``alice@phone.example.org``): subscribe, probe, leave.

Answers come from the component's own store, never from slixmpp's in-memory roster (which is
empty after a restart and would tell every subscriber ``unsubscribed``).

A phone JID names a Wazo user by its localpart today, or by an older localpart for the watchers
who subscribed to it before the user's email changed (see subscriptions.py). Until Wazo's users
have been read once, nobody is known: a subscription request is then held (at most
``MAX_HELD_REQUESTS``) and answered after that first read, because ``unsubscribed`` would be
final in the watcher's roster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Literal

from slixmpp import ComponentXMPP, Presence

from presence.identity import People, Person
from presence.privacy import OwnerPrivacy, PrivacyPolicy, may_see, refused
from presence.revocation import RevocationPlan, plan
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)

# Subscription requests kept while Wazo's users are unknown; beyond, the oldest are forgotten
# (the watcher's client asks again at its next login).
MAX_HELD_REQUESTS = 10_000


class PhoneJidService:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        people: Callable[[], People],
        subscriptions: PhoneSubscriptions,
        publisher: Publisher,
        policy: PrivacyPolicy,
        owner_privacy: Callable[[str], OwnerPrivacy] = lambda _owner: OwnerPrivacy(),
        provisioned: Callable[[], bool] = lambda: True,
        max_revocation_share: float = 1.0,
    ) -> None:
        self._xmpp = xmpp
        self._people = people
        self._subscriptions = subscriptions
        self._publisher = publisher
        self._policy = policy
        self._owner_privacy = owner_privacy  # by Wazo user uuid
        self._provisioned = provisioned
        self._held: dict[tuple[str, str], Presence] = {}  # (alias, subscriber) -> request
        self._max_revocation_share = max_revocation_share
        self.refused = 0
        # A mass revocation held back by the brake, until an administrator confirms it.
        self.pending_revocation: RevocationPlan | None = None

    def _person(self, alias: str, subscriber: str) -> Person | None:
        """Who ``subscriber`` means by ``alias``: the user they subscribed to under that name, or
        the user whose phone JID it is now."""
        people = self._people()
        owner_uuid = self._subscriptions.owner_of(alias, subscriber)
        if owner_uuid is not None:
            return people.by_uuid.get(owner_uuid)
        return people.by_localpart.get(alias)

    def _may_see(self, person: Person, subscriber: str) -> bool:
        return may_see(self._policy, subscriber, person.chat_jid, self._owner_privacy(person.wazo_uuid))

    def _authorized(self, alias: str, subscriber: str) -> bool:
        person = self._person(alias, subscriber)
        return person is not None and self._may_see(person, subscriber)

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

    async def enforce_owner(self, owner_uuid: str) -> int:
        """After one user's privacy change: drop their watchers no longer allowed, at once.

        Never braked: one owner's choice is not a mass revocation (and must take effect even
        while a braked run waits for an administrator).
        """
        if owner_uuid not in self._people().by_uuid:
            return 0
        dropped = await self._drop(self._plan([owner_uuid]))
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
        return self._plan(uuid for uuid in self._subscriptions.owners() if uuid in people.by_uuid)

    def _plan(self, owner_uuids: Iterable[str]) -> RevocationPlan:
        people = self._people()
        drops: list[tuple[str, str]] = []
        company: dict[str, bool] = {}  # the company's rule, decided once per watcher for this run
        for owner_uuid in owner_uuids:
            person = people.by_uuid.get(owner_uuid)
            if person is None:
                continue
            owner = self._owner_privacy(owner_uuid)  # once per owner, not per subscription
            for alias, subscribers in self._subscriptions.subscribers(owner_uuid).items():
                drops.extend(
                    (alias, subscriber)
                    for subscriber in refused(self._policy, person.chat_jid, owner, subscribers, company)
                )
        return plan(drops, self._subscriptions.count())

    async def _drop(self, revocation: RevocationPlan) -> int:
        dropped = 0
        for alias, subscriber in revocation.drops:
            if await self._subscriptions.remove(alias, subscriber):
                self._reply("unsubscribed", alias, subscriber)
                dropped += 1
        if dropped:
            log.info("dropped %d subscriptions the privacy rules no longer allow", dropped)
        return dropped

    async def release_held(self) -> None:
        """After the first read of Wazo's users: answer the requests held meanwhile."""
        held, self._held = self._held, {}
        if held:
            log.info("answering %d subscription requests received before Wazo's users were read", len(held))
        for pres in held.values():
            await self.handle(pres)

    async def handle(self, pres: Presence) -> None:
        owner = pres["to"].user.lower()
        subscriber = pres["from"].bare.lower()
        ptype = pres["type"]
        if ptype == "subscribe":
            person = self._person(owner, subscriber)
            if person is None and not self._provisioned():
                self._hold(owner, subscriber, pres)
                return
            if person is None or not self._may_see(person, subscriber):
                self.refused += 1
                log.info("refused %s's subscription to %s@%s", subscriber, owner, self._xmpp.boundjid.bare)
                self._reply("unsubscribed", owner, subscriber)
                return
            if not await self._subscriptions.add(owner, subscriber, person.wazo_uuid):  # durable first
                # RFC 6121 3.1.3: a subscribe from someone already subscribed is answered again,
                # never ignored. Their server may have lost our state (an unsubscribe sent while
                # we were down, a restored roster), and silence would leave them pending for ever.
                log.info("%s asked again to see %s; confirming", subscriber, owner)
            self._reply("subscribed", owner, subscriber)
            self._publisher.send_current(person.wazo_uuid, owner, subscriber)
        elif ptype in ("unsubscribe", "unsubscribed"):
            self._held.pop((owner, subscriber), None)
            # unsubscribe: they stop watching; unsubscribed: they cancel our (nonexistent) view of
            # them, which their server also sends when removing the contact; both end the watch.
            if await self._subscriptions.remove(owner, subscriber):
                log.info("%s no longer sees %s", subscriber, owner)
            if ptype == "unsubscribe":
                self._reply("unsubscribed", owner, subscriber)
        elif ptype == "probe":
            if self._subscriptions.is_subscribed(owner, subscriber):
                person = self._person(owner, subscriber)
                if person is not None and self._may_see(person, subscriber):
                    self._publisher.send_current(person.wazo_uuid, owner, str(pres["from"]))
                # else: the owner hid their phone since, or Wazo's users are not read yet (the
                # first read sends everyone their presence); say nothing rather than "unsubscribed"
            elif self._authorized(owner, subscriber):
                # Their roster thinks they are subscribed but we have no record: say so plainly.
                self._reply("unsubscribed", owner, subscriber)
            # Strangers' probes get nothing: not even whether the phone JID exists.
        # subscribed/available/unavailable sent to a phone JID carry nothing for us.

    def _hold(self, alias: str, subscriber: str, pres: Presence) -> None:
        if len(self._held) >= MAX_HELD_REQUESTS:
            self._held.pop(next(iter(self._held)))
        self._held[(alias, subscriber)] = pres
        log.info("holding %s's subscription to %s until Wazo's users are read", subscriber, alias)
