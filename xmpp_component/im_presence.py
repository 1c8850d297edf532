"""Learning users' chat presence: subscription mode, or XEP-0356 when the server grants it.

Subscription mode (works everywhere): the component domain asks each provisioned user for a
presence subscription once; approval and revocation are stored; every (re)connect probes the
approved users. XEP-0356 mode (Prosody + mod_privilege): the server forwards presences itself;
with roster access the component also writes itself (and optionally colleagues' phone JIDs) into
users' rosters, so nobody has to click anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from slixmpp import ComponentXMPP, Presence
from slixmpp.exceptions import IqError, IqTimeout

from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.im import ImResources
from presence.model import ImShow
from store import Store
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)

_SHOWS = {"chat": ImShow.CHAT, "away": ImShow.AWAY, "xa": ImShow.XA, "dnd": ImShow.DND}


class ImPresenceIntake:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        store: Store,
        hub: PresenceHub,
        people: Callable[[], People],
        subscriptions: PhoneSubscriptions,
        domains: tuple[str, ...],
        *,
        privilege_grace: float = 1.0,
        roster_colleagues: bool = False,
        roster_group: str = "Phones",
    ) -> None:
        self._xmpp = xmpp
        self._store = store
        self._hub = hub
        self._people = people
        self._subscriptions = subscriptions
        self._domains = domains
        self._privilege_grace = privilege_grace
        self._roster_colleagues = roster_colleagues
        self._roster_group = roster_group
        self._resources: dict[str, ImResources] = {}
        self._unmatched_logged: set[str] = set()
        self._approvals: dict[str, str] = {}
        self.privileged_presence = False
        self.privileged_roster = False
        self._provisioning: asyncio.Task[None] | None = None
        self._privileges_seen = asyncio.Event()

    @property
    def mode(self) -> str:
        return "privileged" if self.privileged_presence else "subscription"

    async def load(self) -> None:
        self._approvals = await self._store.im_subscriptions()

    # --- connection life-cycle -------------------------------------------------------------------

    def on_session_start(self) -> None:
        # What we knew of each user's resources may be stale (a client may have left while the
        # stream was down). The server answers our probes (or, privileged, re-sends presences)
        # with every resource that is still there, so rebuild from those answers; the hub keeps
        # showing the last state until they arrive instead of flashing everyone offline.
        self._resources.clear()
        self.privileged_presence = self.privileged_roster = False
        self._privileges_seen.clear()
        # slixmpp: xep_0356 keeps granted privileges in a class-wide dict that outlives a
        # session (and an instance); only this session's advertisement counts.
        self._xmpp.plugin["xep_0356"].granted_privileges.clear()
        self.on_people_changed()

    def on_people_changed(self) -> None:
        """(Re)run provisioning for the current users; privileges already learnt stay valid."""
        if self._provisioning is not None:
            self._provisioning.cancel()
        self._provisioning = asyncio.create_task(self._provision(), name="im-provisioning")

    def on_privileges(self) -> None:
        granted = self._xmpp.plugin["xep_0356"].granted_privileges
        # Privileges are per server domain: those of the users served are the ones that matter.
        for domain in self._domains:
            perms = granted.get(domain)
            if perms is None:
                continue
            self.privileged_presence = self.privileged_presence or str(perms.presence) == "managed_entity"
            self.privileged_roster = self.privileged_roster or str(perms.roster) in ("set", "both")
        if self.privileged_presence or self.privileged_roster:
            log.info(
                "XEP-0356 privileges granted: presence=%s roster=%s",
                "managed_entity" if self.privileged_presence else "none",
                "set" if self.privileged_roster else "none",
            )
            self._privileges_seen.set()

    async def _provision(self) -> None:
        """After each connect: probe approved users; ask the others (unless privileges make it moot)."""
        people = self._people()
        for person in people.by_chat_jid.values():
            if self._approvals.get(person.chat_jid) == "approved":
                self._xmpp.send_presence(pto=person.chat_jid, ptype="probe")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._privileges_seen.wait(), self._privilege_grace)
        if self.privileged_roster:
            await self._write_rosters(people)
        if self.privileged_presence:
            return
        for person in people.by_chat_jid.values():
            if person.chat_jid not in self._approvals:
                await self.ask_subscription(person.chat_jid)

    async def ask_subscription(self, chat_jid: str) -> None:
        self._xmpp.send_presence_subscription(pto=chat_jid, ptype="subscribe")
        await self._set_approval(chat_jid, "pending")

    async def _write_rosters(self, people: People) -> None:
        """XEP-0356 roster set: the component (and colleagues' phone JIDs) in every roster."""
        domain = self._xmpp.boundjid.bare
        plugin = self._xmpp.plugin["xep_0356"]
        for person in people.by_chat_jid.values():
            items = {domain: {"name": "Phone presence", "subscription": "both", "groups": []}}
            if self._roster_colleagues:
                for colleague in people.by_chat_jid.values():
                    if colleague is not person:
                        items[f"{colleague.localpart}@{domain}"] = {
                            "name": colleague.display_name or colleague.localpart,
                            "subscription": "both",
                            "groups": [self._roster_group],
                        }
                        await self._subscriptions.add(
                            colleague.localpart, person.chat_jid, colleague.wazo_uuid
                        )
            try:
                # slixmpp: set_roster() checks for get/both instead of set/both, so a component
                # granted roster=set would be refused locally; build the request directly.
                await plugin._make_set_roster(person.chat_jid, items).send(timeout=10)  # type: ignore[no-untyped-call]
            except (IqError, IqTimeout) as exc:
                log.warning("could not write %s's roster through XEP-0356: %s", person.chat_jid, exc)

    # --- stanzas addressed to the component domain -----------------------------------------------

    async def handle(self, pres: Presence) -> None:
        sender = pres["from"].bare.lower()
        person = self._people().by_chat_jid.get(sender)
        ptype = pres["type"]
        if person is None and ptype in ("subscribed", "unsubscribed", "unsubscribe"):
            # Only provisioned users' approvals are worth a row: anyone can send these.
            if ptype == "unsubscribe":
                self._xmpp.send_presence_subscription(pto=sender, ptype="unsubscribed")
            return
        if ptype == "subscribed":
            await self._set_approval(sender, "approved")
        elif ptype in ("unsubscribed", "unsubscribe"):
            await self._set_approval(sender, "revoked")
            if ptype == "unsubscribe":
                self._xmpp.send_presence_subscription(pto=sender, ptype="unsubscribed")
            self._update(person, sender, ImResources())  # we will not hear from them any more
        elif ptype == "subscribe":
            # The user wants the component in their roster both ways (XEP-0100 style): accept,
            # and ask back if we do not already see them.
            self._xmpp.send_presence_subscription(pto=sender, ptype="subscribed")
            self._xmpp.send_presence(pto=sender)
            if person is not None and self._approvals.get(sender) != "approved":
                await self.ask_subscription(sender)
        elif ptype == "probe":
            self._xmpp.send_presence(pto=pres["from"])
        elif ptype == "unavailable":
            resources = self._resources.get(sender, ImResources())
            self._update(person, sender, resources.unavailable(pres["from"].resource or None))
        elif ptype in ("available", "chat", "away", "xa", "dnd"):
            resource = pres["from"].resource or ""
            show = _SHOWS.get(pres["show"], ImShow.AVAILABLE)
            priority = _priority(pres)
            resources = self._resources.get(sender, ImResources())
            self._update(person, sender, resources.available(resource, show, pres["status"] or "", priority))

    def _update(self, person: Person | None, sender: str, resources: ImResources) -> None:
        if person is None:
            if sender not in self._unmatched_logged and sender.rsplit("@", 1)[-1] in self._domains:
                self._unmatched_logged.add(sender)  # once per user, not once per presence
                log.info("chat user %s has no Wazo user: no phone JID for them", sender)
            return
        if resources.resources:
            self._resources[sender] = resources
        else:
            self._resources.pop(sender, None)
        self._hub.apply_im(person.wazo_uuid, resources.state)  # the hub's key: the Wazo uuid

    async def _set_approval(self, chat_jid: str, state: str) -> None:
        if self._approvals.get(chat_jid) != state:
            await self._store.set_im_subscription(chat_jid, state)
            self._approvals[chat_jid] = state


def _priority(pres: Presence) -> int:
    try:
        return int(pres["priority"])
    except (TypeError, ValueError):
        return 0  # a malformed <priority/> is not worth dropping the presence for
