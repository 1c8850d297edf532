"""Sends each user's combined presence to their subscribers: once per change, coalesced per tick.

Hot path: a hub change only marks the user dirty. At the end of the event-loop tick, each dirty
user's presence is serialised once (presence/wire.py) and stamped with each subscriber's JID; the
whole batch goes to the stream as one string, so the cost per subscriber is two string
concatenations and no stanza objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from slixmpp import ComponentXMPP

from presence.hub import INITIAL_PRESENCE, PresenceHub
from presence.model import CombinedPresence
from presence.wire import build_presence, phone_jid
from xmpp_component.subscriptions import PhoneSubscriptions

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        xmpp: ComponentXMPP,
        hub: PresenceHub,
        subscriptions: PhoneSubscriptions,
        online: Callable[[], bool],
    ) -> None:
        self._xmpp = xmpp
        self._hub = hub
        self._subscriptions = subscriptions
        self._online = online
        self._domain = str(xmpp.boundjid.bare)
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        # Last presence sent to all subscribers of an owner; a change equal to it is not resent.
        self._last_sent: dict[str, CombinedPresence] = {}
        self.stanzas_sent = 0
        hub.add_listener(self._on_change)

    # --- change path ---------------------------------------------------------------------------

    def _on_change(self, owner: str, _presence: CombinedPresence) -> None:
        self._dirty.add(owner)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, set()
        if not self._online():
            return  # everyone gets the current presence again on reconnect (publish_all)
        chunks: list[str] = []
        for owner in dirty:
            presence = self._hub.presence(owner)
            if self._last_sent.get(owner) == presence:
                continue
            self._last_sent[owner] = presence
            subscribers = self._subscriptions.subscribers(owner)
            if subscribers:
                template = build_presence(presence, phone_jid(owner, self._domain))
                chunks.extend(template.for_subscriber(subscriber) for subscriber in subscribers)
        self._write(chunks)

    # --- forced sends (probe, new subscription, reconnect, shutdown) ---------------------------

    def send_current(self, owner: str, to: str) -> None:
        """Answer a probe or a new subscription with the owner's current presence."""
        template = build_presence(self._hub.presence(owner), phone_jid(owner, self._domain))
        self._write([template.for_subscriber(to)])

    def publish_all(self) -> None:
        """After each (re)connect: every subscriber gets the current presence of everyone they see."""
        chunks: list[str] = []
        for owner in self._subscriptions.owners():
            presence = self._hub.presence(owner)
            self._last_sent[owner] = presence
            template = build_presence(presence, phone_jid(owner, self._domain))
            chunks.extend(template.for_subscriber(s) for s in self._subscriptions.subscribers(owner))
        self._write(chunks)
        log.info("sent current presence to %d subscriptions", len(chunks))

    def send_unavailable_to_all(self) -> None:
        """At shutdown: phone JIDs go offline rather than freezing in their last state."""
        chunks: list[str] = []
        for owner in self._subscriptions.owners():
            template = build_presence(INITIAL_PRESENCE, phone_jid(owner, self._domain))
            chunks.extend(template.for_subscriber(s) for s in self._subscriptions.subscribers(owner))
        self._last_sent.clear()
        self._write(chunks)

    def _write(self, chunks: Iterable[str]) -> None:
        batch = list(chunks)
        if batch:
            # slixmpp: a str goes through the same ordered send queue as stanza objects, without
            # being parsed or filtered, so it cannot overtake a <subscribed/> sent just before.
            self._xmpp.send("".join(batch))
            self.stanzas_sent += len(batch)
