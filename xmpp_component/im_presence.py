"""Learning users' chat presence: subscription mode, or XEP-0356 when the server grants it.

Subscription mode (works everywhere): the component domain asks each provisioned user for a
presence subscription once; approval and revocation are stored; every (re)connect probes the
approved users. XEP-0356 mode (Prosody + mod_privilege): the server forwards presences itself,
starting with everyone's current presence right after the component authenticates, usually
before Wazo's users are read. So presence from any chat JID of the served domains is kept
(bounded) until that user is provisioned, and after each connect the provisioned users are probed
and the server pinged: whoever has not been heard from when the pong arrives is offline in chat
(the server answers in order, so everything it had to say came before the pong). With roster
access, rosters are kept in step by xmpp_component/rosters.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from slixmpp import JID, ComponentXMPP, Presence
from slixmpp.exceptions import IqError, IqTimeout

from presence.chat_sessions import ChatSessions
from presence.hub import PresenceHub
from presence.identity import People, Person
from presence.im import OFFLINE, ImResources
from presence.model import ImShow
from presence.waiting import wait_event
from presence.wire import probes
from store import StateStore
from xmpp_component.rosters import RosterSync
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)

_SHOWS = {"chat": ImShow.CHAT, "away": ImShow.AWAY, "xa": ImShow.XA, "dnd": ImShow.DND}
# Chat users of the served domains not (yet) provisioned whose presence is kept, and resources kept
# per user: enough for any real site, a bound against a flood of accounts or resources.
MAX_UNPROVISIONED = 10_000
MAX_RESOURCES = 16
# Longest wait for the server's pong that closes the post-connect probes.
BARRIER_TIMEOUT = 10.0
# Probes written at once, between two yields to the event loop: 50,000 in one go held it for
# seconds, and the start-up resend with it (the server sat idle).
PROBES_PER_YIELD = 500


class ImPresenceIntake:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        store: StateStore,
        hub: PresenceHub,
        people: Callable[[], People],
        subscriptions: PhoneSubscriptions,
        domains: tuple[str, ...],
        *,
        privilege_grace: float = 1.0,
        rosters: RosterSync | None = None,
        sessions: ChatSessions | None = None,
    ) -> None:
        self._xmpp = xmpp
        self._store = store
        self._hub = hub
        self._people = people
        self._subscriptions = subscriptions
        self._domains = domains
        self._privilege_grace = privilege_grace
        self._rosters = rosters
        # Chat JID -> resources heard since this stream started, provisioned or not (see _keep),
        # and who is known offline: the one record of who is online, read by the publisher too.
        self.sessions = sessions if sessions is not None else ChatSessions()
        self._unprovisioned: set[str] = set()  # chat JIDs heard from without a Wazo user
        self._swept = False  # this stream's "not heard from = offline" rule has been applied
        self.sweeps = 0  # for tests: how many times that rule ran
        self._unmatched_logged: set[str] = set()
        self._approvals: dict[str, str] = {}
        self._approval_writes = asyncio.Lock()
        self.privileged_presence = False
        self.privileged_roster = False
        self.roster_readable = False
        self._provisioning: asyncio.Task[None] | None = None
        self._privileges_seen = asyncio.Event()
        # Set once this stream's users' chat presence is learnt (XEP-0356: after the barrier;
        # subscription mode: once the privileges did not come): subscribers may get it all then.
        self.learnt = asyncio.Event()

    @property
    def mode(self) -> str:
        return "privileged" if self.privileged_presence else "subscription"

    def chat_users_heard(self) -> int:
        """Chat users with at least one resource heard on this stream (for the admins' Status)."""
        return self.sessions.online_count()

    async def load(self) -> None:
        self._approvals = await self._store.im_subscriptions()

    # --- connection life-cycle -------------------------------------------------------------------

    def on_session_start(self, cutoff: float | None = None) -> None:
        """A new stream; ``cutoff``: see :meth:`ChatSessions.new_stream`."""
        # What we knew of each user's resources may be stale (a client may have left while the
        # stream was down). The server answers our probes (or, privileged, re-sends presences)
        # with every resource that is still there, so rebuild from those answers; the hub keeps
        # showing the last state until they arrive instead of flashing everyone offline.
        self.sessions.new_stream(cutoff)
        self._unprovisioned.clear()
        self._swept = False
        self.learnt.clear()
        self.privileged_presence = self.privileged_roster = self.roster_readable = False
        if self._rosters is not None:
            self._rosters.cancel()  # its IQs went with the old stream
        self._privileges_seen.clear()
        # slixmpp: xep_0356 keeps granted privileges in a class-wide dict that outlives a
        # session (and an instance); only this session's advertisement counts.
        self._xmpp.plugin["xep_0356"].granted_privileges.clear()
        self.on_people_changed()

    def on_people_changed(self) -> None:
        """(Re)run provisioning for the current users; privileges already learnt stay valid."""
        # Presence that arrived before these users were provisioned (XEP-0356 sends everyone's
        # at connect, before Wazo's users are read) counts now.
        people = self._people()
        for chat_jid in [jid for jid in self._unprovisioned if jid in people.by_chat_jid]:
            self._unprovisioned.discard(chat_jid)
            state = self.sessions.resources(chat_jid).state
            self._hub.apply_im(people.by_chat_jid[chat_jid].wazo_uuid, state)
        if self._provisioning is not None:
            self._provisioning.cancel()
        self._provisioning = asyncio.create_task(self._provision(), name="im-provisioning")

    async def close(self) -> None:
        """At shutdown, before the store closes: a provisioning run writes approvals to it."""
        task, self._provisioning = self._provisioning, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def on_privileges(self) -> None:
        granted = self._xmpp.plugin["xep_0356"].granted_privileges
        # Privileges are per server domain: those of the users served are the ones that matter.
        for domain in self._domains:
            perms = granted.get(domain)
            if perms is None:
                continue
            self.privileged_presence = self.privileged_presence or str(perms.presence) == "managed_entity"
            self.privileged_roster = self.privileged_roster or str(perms.roster) in ("set", "both")
            self.roster_readable = self.roster_readable or str(perms.roster) in ("get", "both")
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
        await self._probe(
            person.chat_jid
            for person in people.by_chat_jid.values()
            if self._approvals.get(person.chat_jid) == "approved"
        )
        await wait_event(self._privileges_seen, self._privilege_grace)
        if self.privileged_roster and self._rosters is not None:
            self._rosters.request(can_read=self.roster_readable)
        if self.privileged_presence:
            await self._learn_current_presence(people)
            self.learnt.set()
            return
        # Approved users answer the probes above (``unavailable`` when offline): once the server
        # answered a ping sent after them, the answers are in, and the first send can skip those
        # known offline instead of sending to everyone.
        await self._barrier()
        self.learnt.set()
        for person in people.by_chat_jid.values():
            if person.chat_jid not in self._approvals:
                await self.ask_subscription(person.chat_jid)

    async def ask_subscription(self, chat_jid: str) -> None:
        self._xmpp.send_presence_subscription(pto=chat_jid, ptype="subscribe")
        await self._set_approval(chat_jid, "pending")

    async def _learn_current_presence(self, people: People) -> None:
        """XEP-0356: ask everyone not heard from yet, then mark offline whoever stays silent.

        Users whose roster has the component (written by the roster sync, or approved) answer the
        probe, with ``unavailable`` when offline; the server already sent the presence of every
        connected user when the component authenticated. A ping to each served domain, answered
        after everything sent before it, is the positive end of "nothing more will come".
        """
        await self._probe(
            person.chat_jid
            for person in people.by_chat_jid.values()
            if not self.sessions.known(person.chat_jid)
        )
        if self._swept:
            return
        await self._barrier()
        self._swept = True
        self.sweeps += 1
        gone = 0
        for person in self._people().by_chat_jid.values():
            if self.sessions.known(person.chat_jid):
                continue
            self.sessions.offline(person.chat_jid)  # the server would have said so: it is sure
            if self._hub.apply_im(person.wazo_uuid, OFFLINE):
                gone += 1
        if gone:
            log.info("%d users not heard from since the connection: offline in chat", gone)

    async def _probe(self, chat_jids: Iterable[str]) -> None:
        """Probe each of ``chat_jids``, letting the event loop run every PROBES_PER_YIELD probes."""
        sender = self._xmpp.boundjid.full
        batch: list[str] = []
        for chat_jid in chat_jids:
            batch.append(chat_jid)
            if len(batch) == PROBES_PER_YIELD:
                self._xmpp.send(probes(sender, batch))
                batch.clear()
                await asyncio.sleep(0)
        if batch:
            self._xmpp.send(probes(sender, batch))

    async def _barrier(self) -> None:
        """Return once the server has answered everything sent to it before (or a timeout)."""
        for domain in self._domains:
            # An error answer is as ordered as a pong; a timeout bounds the wait anyway.
            with contextlib.suppress(IqError, IqTimeout):
                await self._xmpp.plugin["xep_0199"].send_ping(
                    JID(domain), ifrom=JID(self._xmpp.boundjid.bare), timeout=BARRIER_TIMEOUT
                )

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
            # We will not hear from them any more: offline in chat for the hub, but unknown (not
            # offline) as a watcher, who may well be online and must keep receiving.
            self._update(person, sender, ImResources(), stamp=None)
            self.sessions.forget(sender)
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
            resources = self.sessions.resources(sender)
            self._update(person, sender, resources.unavailable(pres["from"].resource or None), None)
        elif ptype in ("available", "chat", "away", "xa", "dnd"):
            resource = pres["from"].resource or ""
            show = _SHOWS.get(pres["show"], ImShow.AVAILABLE)
            priority = _priority(pres)
            status = pres["status"] or ""
            resources = self.sessions.resources(sender).available(resource, show, status, priority)
            self._update(person, sender, resources, _stamp(pres))

    def _update(
        self, person: Person | None, sender: str, resources: ImResources, stamp: float | None
    ) -> None:
        if person is None and not self._keep(sender):
            return
        if len(resources.resources) > MAX_RESOURCES:
            resources = ImResources(resources.resources[-MAX_RESOURCES:])  # the oldest go first
        # An unprovisioned user keeps their place in the bound while offline too: the record of
        # who is offline is bounded like the rest.
        self.sessions.update(sender, resources, stamp)
        if person is not None:
            self._hub.apply_im(person.wazo_uuid, resources.state)

    def _keep(self, sender: str) -> bool:
        """Whether to keep the presence of a chat user without a Wazo user (they may be read soon)."""
        if sender.rsplit("@", 1)[-1] not in self._domains:
            return False
        if sender not in self._unmatched_logged:
            self._unmatched_logged.add(sender)  # once per user, not once per presence
            log.info("chat user %s has no Wazo user (yet): presence kept, no phone JID", sender)
        if sender in self._unprovisioned:
            return True
        if len(self._unprovisioned) >= MAX_UNPROVISIONED:
            return False
        self._unprovisioned.add(sender)
        return True

    async def _set_approval(self, chat_jid: str, state: str) -> None:
        if self._approvals.get(chat_jid) == state:
            return
        # Known at once, stored after: a user's "subscribed" can be handled while the "pending"
        # of the request it answers is still being written, and must not be overwritten by it
        # (a user left "pending" is never probed after a reconnect). Writes wait their turn and
        # store the latest state, so the row ends as the dict does.
        self._approvals[chat_jid] = state
        async with self._approval_writes:
            await self._store.set_im_subscription(chat_jid, self._approvals[chat_jid])


def _priority(pres: Presence) -> int:
    try:
        return int(pres["priority"])
    except (TypeError, ValueError):
        return 0  # a malformed <priority/> is not worth dropping the presence for


def _stamp(pres: Presence) -> float | None:
    """When the server says this presence was set (XEP-0203 ``delay``, on what it re-sends), or None."""
    delay = pres.xml.find("{urn:xmpp:delay}delay")
    if delay is None:
        return None
    try:
        return datetime.fromisoformat(delay.get("stamp", "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None  # a bad stamp proves nothing: the watcher gets everything again
