"""Sends each user's combined presence to their subscribers: once per change, coalesced per tick.

Hot path: a hub change only marks the user (Wazo uuid, the hub's key) dirty. At the end of the
event-loop tick, each dirty user's presence is serialised once per phone JID they are watched
under (presence/wire.py; one JID, or two while watchers of an old name remain) and stamped with
each subscriber's JID (one ``str.join`` per phone JID, presence/wire.py); the whole batch goes
to the stream as one string, with no stanza objects.

Only watchers who can receive are sent to: a watcher known to be offline in chat (see
presence/chat_sessions.py, the one record of who is online) is skipped, since its server would
discard the presence; at login its server probes the phone JIDs and the answer is current.

After a reconnect, publish_all sends an owner's presence to all its watchers only if it changed
while the link was down, or if what was last sent is not proven delivered (written after the last
keepalive ping the server answered). Otherwise only watchers who may hold nothing get it: those
whose sessions may have started during the outage (their probes bounced off the missing
component), and those whose state cannot be known (other domains, not learnt). The full resend
is thus kept exactly where it is needed: the first connect of the process, a server that
restarted (every session is new), a server that does not stamp presences, and links
without keepalive (nothing is proven delivered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from itertools import filterfalse

from slixmpp import ComponentXMPP

from presence.chat_sessions import ChatSessions
from presence.hub import INITIAL_PRESENCE, PresenceHub
from presence.model import CombinedPresence
from presence.wire import PresenceTemplate, build_presence, phone_jid, presence_body
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)

# publish_all writes the subscribers of this many owners at a time and, while slixmpp's queue or
# the socket's write buffer (over _BUFFER_LIMIT bytes) still holds earlier batches, waits for the
# server to read: resending everything (200,000 subscriptions) must not hold hundreds of MB of XML.
_OWNERS_PER_BATCH = 100
_BUFFER_LIMIT = 1 << 20
# A presence the server stamped this long before the last proven delivery counts as set before it:
# covers the clocks of the server and the component disagreeing, and the probe answered late.
CLOCK_MARGIN = 5.0


class Publisher:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        hub: PresenceHub,
        subscriptions: PhoneSubscriptions,
        online: Callable[[], bool],
        sessions: ChatSessions | None = None,
    ) -> None:
        self._xmpp = xmpp
        self._sessions = sessions or ChatSessions()
        self._hub = hub
        self._subscriptions = subscriptions
        self._online = online
        self._domain = str(xmpp.boundjid.bare)
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        # Last presence sent to all subscribers of an owner (uuid); a change equal to it is not resent.
        self._last_sent: dict[str, CombinedPresence] = {}
        # The serialised form of each phone JID's (alias's) current presence: a probe storm at
        # login time (or a resend) reuses it instead of building the same stanza again.
        self._templates: dict[str, tuple[CombinedPresence, PresenceTemplate]] = {}
        self.stanzas_sent = 0
        # While held (hold()), the phone state is not known yet: the first publish_all waits for
        # release() instead of telling every subscriber "offline" and correcting it a second later.
        self._held = False
        self._publish_pending = False
        self._hold_timer: asyncio.TimerHandle | None = None
        self._publishing: asyncio.Task[None] | None = None
        # Owners a paced publish_all has not reached yet: a change of theirs meanwhile is not sent
        # on its own, their batch will carry the presence current at that moment.
        self._unpublished: set[str] = set()
        # What is proven delivered: owners (and watchers sent a single answer) written since the
        # last keepalive ping, then per ping in flight; a pong proves everything before its ping.
        self._unproven: set[str] = set()
        self._unproven_watchers: set[str] = set()
        self._in_flight: list[tuple[int, float, set[str], set[str]]] = []
        self._marks = 0
        self._delivered_at: float | None = None  # Unix time of the last ping answered
        # After a link loss: watchers whose single answers may be lost (they get everything).
        self._lost_watchers: set[str] = set()
        hub.add_listener(self._on_change)

    # --- change path ---------------------------------------------------------------------------

    def _on_change(self, owner: str, _presence: CombinedPresence) -> None:
        self._dirty.add(owner)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, set()
        if not self._online() or self._held:
            return  # everyone gets the current presence on (re)connect or release (publish_all)
        chunks: list[str] = []
        count = 0
        skip = self._sessions.known_offline().__contains__
        for owner in dirty:
            if owner in self._unpublished:
                continue
            presence = self._hub.presence(owner)
            if self._last_sent.get(owner) == presence:
                continue
            self._last_sent[owner] = presence
            self._unproven.add(owner)
            for alias, subscribers in self._subscriptions.subscribers(owner).items():
                to = list(filterfalse(skip, subscribers))
                if to:
                    chunks.append(self._template(alias, presence).for_subscribers(to))
                    count += len(to)
        self._write(chunks, count)

    # --- forced sends (probe, new subscription, reconnect, shutdown) ---------------------------

    def send_current(self, owner: str, alias: str, to: str) -> None:
        """Answer a probe or a new subscription with the current presence of Wazo user ``owner``
        from phone JID ``alias``."""
        presence = self._hub.presence(owner)
        template = self._template(alias, presence)
        self._unproven_watchers.add(to.split("/", 1)[0].lower())
        if (
            owner not in self._last_sent
            and sum(map(len, self._subscriptions.subscribers(owner).values())) == 1
        ):
            # The first watcher of someone not yet sent to anyone: every watcher has it now, so
            # a reconnect need not send it to them again unless it changes.
            self._last_sent[owner] = presence
            self._unproven.add(owner)
        self._write([template.for_subscriber(to)], 1)

    @property
    def held(self) -> bool:
        return self._held

    def hold(self, timeout: float) -> None:
        """Keep the next publish_all back until :meth:`release` (or ``timeout`` seconds)."""
        self._held = True
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        self._hold_timer = asyncio.get_running_loop().call_later(timeout, self.release)

    def release(self) -> None:
        """The sources' state is known: send what publish_all kept back."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if not self._held:
            return
        self._held = False
        if self._publish_pending:
            self._publish_pending = False
            if self._online():
                self.publish_all()

    def publish_all(self) -> None:
        """After each (re)connect: every subscriber gets the current presence of everyone they see.

        The first batch is written now; on a real stream the rest follows batch by batch as the
        server reads (each owner's presence taken when its batch is written, so it is current).
        """
        if self._held:
            self._publish_pending = True
            return
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        owners = self._subscriptions.owners()
        self._unpublished = set(owners)
        sent = self._publish_owners(owners[:_OWNERS_PER_BATCH])
        if len(owners) <= _OWNERS_PER_BATCH:
            self._published(sent)
        elif getattr(self._xmpp, "transport", None) is None:  # no socket (tests): all at once
            sent += self._publish_owners(owners[_OWNERS_PER_BATCH:])
            self._published(sent)
        else:
            self._publishing = asyncio.get_running_loop().create_task(
                self._publish_rest(owners, _OWNERS_PER_BATCH, sent), name="publish-all"
            )

    async def _publish_rest(self, owners: list[str], start: int, sent: int) -> None:
        for index in range(start, len(owners), _OWNERS_PER_BATCH):
            while self._backlog():  # noqa: ASYNC110  # neither slixmpp nor asyncio signals a drain
                await asyncio.sleep(0.002)
            if not self._online():
                return  # the next connect starts over (new_stream: the owners left count as changed)
            sent += self._publish_owners(owners[index : index + _OWNERS_PER_BATCH])
        self._publishing = None
        self._published(sent)

    def _published(self, sent: int) -> None:
        self._lost_watchers.clear()  # they got everything (or its loss will be noticed: unproven)
        log.info(
            "sent current presence to %d of %d subscriptions (watchers known offline, and those who "
            "hold it since before a reconnect, skipped)",
            sent,
            self._subscriptions.count(),
        )

    def _publish_owners(self, owners: list[str]) -> int:
        chunks: list[str] = []
        count = 0
        offline = self._sessions.known_offline()
        skip = offline.__contains__
        for owner in owners:
            self._unpublished.discard(owner)
            presence = self._hub.presence(owner)
            # Unchanged since it was last (provably) sent: only watchers who may hold nothing.
            unchanged = self._last_sent.get(owner) == presence
            self._last_sent[owner] = presence
            written = count
            for alias, subscribers in self._subscriptions.subscribers(owner).items():
                if unchanged:
                    to = [s for s in subscribers if s not in offline and not self._holds_current(s)]
                else:
                    to = list(filterfalse(skip, subscribers))
                if to:
                    chunks.append(self._template(alias, presence).for_subscribers(to))
                    count += len(to)
            if count > written:
                self._unproven.add(owner)
        self._write(chunks, count)
        return count

    def _holds_current(self, watcher: str) -> bool:
        """Whether ``watcher`` still holds everything sent before the reconnect (see the module doc)."""
        return self._sessions.continued(watcher) and watcher not in self._lost_watchers

    # --- what reached the server (keepalive pings prove it) --------------------------------------

    def checkpoint(self) -> int:
        """A keepalive ping is about to be written; its answer will prove what was written before."""
        self._marks += 1
        self._in_flight.append((self._marks, time.time(), self._unproven, self._unproven_watchers))
        self._unproven, self._unproven_watchers = set(), set()
        return self._marks

    def delivered(self, mark: int) -> None:
        """The server answered ping ``mark``: everything written before it reached the server."""
        while self._in_flight and self._in_flight[0][0] <= mark:
            _, self._delivered_at, _, _ = self._in_flight.pop(0)

    @property
    def delivered_at(self) -> float | None:
        """Unix time before which everything written is proven to have reached the server."""
        return self._delivered_at

    def new_stream(self) -> float | None:
        """A new stream starts: forget what may have been lost with the old one.

        Owners written after the last answered ping (and those a paced resend had not reached)
        count as changed; watchers sent a single answer meanwhile get everything. Returns the
        cutoff for :meth:`ChatSessions.new_stream` (None when nothing is proven).
        """
        owners = self._unproven | self._unpublished
        watchers = set(self._unproven_watchers)
        for _, _, in_flight_owners, in_flight_watchers in self._in_flight:
            owners |= in_flight_owners
            watchers |= in_flight_watchers
        for owner in owners:
            self._last_sent.pop(owner, None)
        self._lost_watchers |= watchers
        self._unproven, self._unproven_watchers = set(), set()
        self._in_flight.clear()
        self._unpublished.clear()
        delivered, self._delivered_at = self._delivered_at, None
        return None if delivered is None else delivered - CLOCK_MARGIN

    async def drain(self, timeout: float) -> bool:
        """Wait until what was written has left slixmpp's queue and the socket buffer (or timeout)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._backlog(limit=0):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("%.0f s were not enough to send everything queued; closing anyway", timeout)
                return False
            await asyncio.sleep(0.01)
        return True

    def backlog(self) -> bool:
        """Something written is still waiting to leave (for the admins' Status)."""
        return self._publishing is not None or self._backlog(limit=0)

    def _backlog(self, limit: int = _BUFFER_LIMIT) -> bool:
        """True while earlier batches still wait in slixmpp's queue or in the socket's buffer."""
        queue = getattr(self._xmpp, "waiting_queue", None)
        if queue is not None and queue.qsize():
            return True
        unsent = getattr(self._xmpp, "unsent", None)
        if unsent is not None:  # the component: its outbox and the socket's buffer
            return bool(unsent() > limit)
        transport = getattr(self._xmpp, "transport", None)
        try:
            return transport is not None and int(transport.get_write_buffer_size()) > limit
        except (AttributeError, RuntimeError):
            return False

    def send_unavailable_to_all(self) -> None:
        """At shutdown: phone JIDs go offline rather than freezing in their last state."""
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        self._unpublished.clear()
        chunks: list[str] = []
        count = 0
        skip = self._sessions.known_offline().__contains__
        for owner in self._subscriptions.owners():
            for alias, subscribers in self._subscriptions.subscribers(owner).items():
                to = list(filterfalse(skip, subscribers))
                if to:
                    template = build_presence(INITIAL_PRESENCE, phone_jid(alias, self._domain))
                    chunks.append(template.for_subscribers(to))
                    count += len(to)
        self._last_sent.clear()
        self._write(chunks, count)

    def _template(self, alias: str, presence: CombinedPresence) -> PresenceTemplate:
        cached = self._templates.get(alias)
        if cached is None:
            template = build_presence(presence, phone_jid(alias, self._domain))
        elif cached[0] is presence or cached[0] == presence:  # `is`: merge shares equal states
            return cached[1]
        else:  # the phone JID's part is kept; the body is shared by everyone in that state
            template = PresenceTemplate(cached[1].prefix, presence_body(presence))
        self._templates[alias] = (presence, template)
        return template

    def _write(self, chunks: list[str], stanzas: int) -> None:
        """Write ``chunks`` (``stanzas`` presence stanzas in all) as one string."""
        if stanzas:
            # slixmpp: a str is not parsed or filtered, and it keeps its place after stanza
            # objects sent before (PhoneComponent.send), so it cannot overtake a <subscribed/>.
            self._xmpp.send("".join(chunks))
            self.stanzas_sent += stanzas
