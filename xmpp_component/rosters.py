"""Keeping users' rosters in step with the rules, through XEP-0356 roster access (Prosody + mod_privilege).

On each connect (and when the users or someone's phone privacy change) every roster concerned is
read, compared with what the component wrote last time (kept in the store) and with what it wants
now (presence/rosters.py, pure), and only the difference is written, one item per roster push so
that each write is known to have succeeded before it is recorded. Reading also reconciles the
stored phone-JID subscriptions: a watcher whose roster no longer has the phone JID with ``to``
unsubscribed while the component could not hear it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

from slixmpp import ComponentXMPP
from slixmpp.exceptions import IqError, IqTimeout

from presence.identity import People, Person
from presence.privacy import OwnerPrivacy, PrivacyPolicy, domain_of
from presence.rosters import (
    Colleagues,
    RosterItem,
    ServerRoster,
    Written,
    colleagues_of,
    desired_items,
    lost_subscriptions,
    roster_changes,
)
from store import StateStore
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)

NS_ROSTER = "jabber:iq:roster"
# Rosters handled at once: enough to keep the server busy, few enough to bound the IQs in flight.
CONCURRENT_ROSTERS = 16
IQ_TIMEOUT = 30.0


class RosterSync:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        store: StateStore,
        people: Callable[[], People],
        subscriptions: PhoneSubscriptions,
        policy: PrivacyPolicy,
        privacy: Callable[[str], OwnerPrivacy],
        domains: tuple[str, ...],
        *,
        colleagues: bool,
        group: str,
        # (owner uuid, phone JID localpart, watcher): a watcher was just subscribed by a roster write.
        on_subscribed: Callable[[str, str, str], object] = lambda _uuid, _alias, _watcher: None,
    ) -> None:
        self._xmpp = xmpp
        self._store = store
        self._people = people
        self._subscriptions = subscriptions
        self._policy = policy
        self._privacy = privacy
        self._domains = domains
        self._colleagues = colleagues
        self._group = group
        self._on_subscribed = on_subscribed
        self.syncs = 0  # completed runs (tests and benchmarks wait on it)
        self.reads = 0  # roster gets sent, all runs together
        self.writes = 0  # roster sets sent (one item each), all runs together
        self._running: asyncio.Task[None] | None = None
        self._again = False
        self._syncing: People | None = None  # the users the running sync works for

    # --- scheduling ----------------------------------------------------------------------------

    def request(self, *, can_read: bool, rules_changed: bool = False) -> Awaitable[None]:
        """Run a sync now, or once more right after the one running (never two side by side).

        A request while a sync of the same users runs is already served by it, unless the rules
        changed meanwhile (someone's phone privacy).
        """
        if self._running is not None and not self._running.done():
            if rules_changed or self._people() is not self._syncing:
                self._again = True
            return self._running
        self._running = asyncio.create_task(self._loop(can_read), name="roster-sync")
        return self._running

    async def settled(self) -> None:
        """Until no sync is running or asked for (tests, and callers that need the result)."""
        while self._running is not None and not self._running.done():
            await asyncio.shield(self._running)

    def cancel(self) -> None:
        if self._running is not None:
            self._running.cancel()
            self._running = None

    async def _loop(self, can_read: bool) -> None:
        while True:
            self._again = False
            await self.sync(can_read=can_read)
            if not self._again:
                return

    # --- one run -------------------------------------------------------------------------------

    async def sync(self, *, can_read: bool) -> None:
        people = self._syncing = self._people()
        if not people:
            # Wazo's users not read yet (or an empty answer): removing every item written would
            # be wrong, and there is nothing to add. The read that provisions users calls again.
            return
        component = str(self._xmpp.boundjid.bare)
        watching: defaultdict[str, list[str]] = defaultdict(list)  # watcher -> phone JIDs it sees
        for alias, subscriber, _owner_uuid in self._subscriptions.rows():
            if domain_of(subscriber) in self._domains:
                watching[subscriber].append(f"{alias}@{component}")
        rosters = set(people.by_chat_jid) | set(watching) | set(await self._store.roster_owners())
        # Every colleague's item and rules once for the run (privacy changes during it ask for
        # another run): per watcher, its wanted items are then a copy.
        everyone = colleagues_of(people, component, self._group, self._person_privacy)
        semaphore = asyncio.Semaphore(CONCURRENT_ROSTERS)

        async def one(watcher: str) -> None:
            async with semaphore:
                try:
                    await self._sync_roster(
                        watcher, people, component, watching.get(watcher, ()), can_read, everyone
                    )
                except (IqError, IqTimeout) as exc:
                    log.warning("roster of %s not synchronised this time: %s", watcher, _why(exc))

        await asyncio.gather(*(one(watcher) for watcher in sorted(rosters)))
        self.syncs += 1
        log.info("rosters synchronised (%d rosters)", len(rosters))

    async def _sync_roster(
        self,
        watcher: str,
        people: People,
        component: str,
        sees: Iterable[str],
        can_read: bool,
        everyone: Colleagues,
    ) -> None:
        server = await self._read(watcher) if can_read else None
        if server is not None:
            for phone_jid in lost_subscriptions(sees, server):
                alias = phone_jid.split("@", 1)[0]
                if await self._subscriptions.remove(alias, watcher):
                    log.info("%s removed %s from their roster meanwhile: unsubscribed", watcher, phone_jid)
        if watcher in people.by_chat_jid:
            desired = desired_items(
                watcher,
                people,
                component,
                colleagues=self._colleagues,
                group=self._group,
                policy=self._policy,
                privacy=self._person_privacy,
                everyone=everyone,
            )
        else:
            desired = {}  # not (or no longer) a Wazo user: nothing of ours belongs in that roster
        rows = await self._store.roster_items(watcher)
        written = Written(
            items={item: digest for item, state, digest in rows if state == "written"},
            removed_by_user=frozenset(item for item, state, _ in rows if state == "removed"),
        )
        changes = roster_changes(desired, written, server)
        if not changes:
            return
        await self._store.forget_roster_items(watcher, changes.forget)
        await self._store.set_roster_items(watcher, [(jid, "removed", "") for jid in changes.removed_by_user])
        for item in changes.set:
            if not await self._write(watcher, item, component):
                break  # the next items would fail the same way (no such account, server trouble)
        for jid in changes.remove:
            await self._remove(watcher, jid, component)

    def _person_privacy(self, person: Person) -> OwnerPrivacy:
        return self._privacy(person.wazo_uuid)

    # --- the wire ------------------------------------------------------------------------------

    async def _read(self, watcher: str) -> ServerRoster:
        iq = self._xmpp.make_iq_get(queryxmlns=NS_ROSTER, ifrom=self._xmpp.boundjid.bare, ito=watcher)
        self.reads += 1
        result = await iq.send(timeout=IQ_TIMEOUT)  # type: ignore[no-untyped-call]
        query = result.xml.find(f"{{{NS_ROSTER}}}query")
        roster: dict[str, str] = {}
        if query is not None:
            # slixmpp: Roster.get_items() builds a dict of every interface per item, far slower
            # than reading the two attributes needed; a roster can hold thousands of items.
            for element in query.iter(f"{{{NS_ROSTER}}}item"):
                jid = element.get("jid")
                if jid:
                    roster[jid.lower()] = element.get("subscription", "none")
        return roster

    async def _push(self, watcher: str, jid: str, values: dict[str, object]) -> None:
        # slixmpp: xep_0356.set_roster() checks for roster get/both instead of set/both, so a
        # component granted roster=set would be refused locally; build the request directly.
        iq = self._xmpp.make_iq_set(ifrom=self._xmpp.boundjid.bare, ito=watcher)
        # One item per push: mod_privilege answers each item of a push separately (same id), so
        # only a one-item push tells whether that item was saved.
        iq["roster"]["items"] = {jid: values}
        self.writes += 1
        await iq.send(timeout=IQ_TIMEOUT)  # type: ignore[no-untyped-call]

    async def _write(self, watcher: str, item: RosterItem, component: str) -> bool:
        groups = [item.group] if item.group else []
        try:
            await self._push(
                watcher, item.jid, {"name": item.name, "subscription": item.subscription, "groups": groups}
            )
        except (IqError, IqTimeout) as exc:
            log.warning("could not write %s into %s's roster: %s", item.jid, watcher, _why(exc))
            return False
        await self._store.set_roster_items(watcher, [(item.jid, "written", item.digest)])
        if item.jid != component and item.subscription == "to":
            alias = item.jid.split("@", 1)[0]
            person = self._people().by_localpart.get(alias)
            # Only now: a subscription is recorded when the watcher's roster really has the item.
            if person is not None and await self._subscriptions.add(alias, watcher, person.wazo_uuid):
                self._on_subscribed(person.wazo_uuid, alias, watcher)
        return True

    async def _remove(self, watcher: str, jid: str, component: str) -> None:
        try:
            await self._push(watcher, jid, {"subscription": "remove"})
        except IqError as exc:
            if exc.condition != "item-not-found":  # already gone is what we wanted
                log.warning("could not remove %s from %s's roster: %s", jid, watcher, _why(exc))
                return
        except IqTimeout as exc:
            log.warning("could not remove %s from %s's roster: %s", jid, watcher, _why(exc))
            return
        await self._store.forget_roster_items(watcher, [jid])
        if jid != component and await self._subscriptions.remove(jid.split("@", 1)[0], watcher):
            log.info("%s no longer sees %s (removed from their roster)", watcher, jid)


def _why(exc: IqError | IqTimeout) -> str:
    if isinstance(exc, IqTimeout):
        return "no answer"
    return str(exc.condition)
