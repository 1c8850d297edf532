"""Helpers for end-to-end tests: record presences a real client receives, wait for one, and a
barrier after which "nothing (more) arrived" may be asserted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slixmpp import ClientXMPP


@dataclass(frozen=True)
class Seen:
    frm: str
    ptype: str  # available, unavailable, subscribe, subscribed, unsubscribed, ...
    show: str
    status: str
    state: str  # the urn:phonepresence:0 state attribute, "" when absent


class PresenceWatch:
    """Everything one client receives, in order, with a way to wait for a matching stanza."""

    def __init__(self, client: ClientXMPP) -> None:
        self.seen: list[Seen] = []
        self._changed = asyncio.Event()
        client.add_event_handler("presence", self._record)

    def _record(self, pres: Any) -> None:
        ptype = pres["type"]
        if ptype in ("chat", "away", "xa", "dnd"):
            ptype = "available"
        phone = pres.xml.find("{urn:phonepresence:0}phone")
        self.seen.append(
            Seen(
                frm=str(pres["from"]),
                ptype=ptype,
                show=pres["show"] or "",
                status=pres["status"] or "",
                state=phone.get("state", "") if phone is not None else "",
            )
        )
        self._changed.set()

    def mark(self) -> int:
        return len(self.seen)

    async def wait_for(self, frm: str, since: int = 0, timeout: float = 10.0, **expected: str) -> Seen:
        """The first stanza from ``frm`` (bare or full) after index ``since`` matching ``expected``."""
        deadline = asyncio.get_running_loop().time() + timeout
        index = since
        while True:
            while index < len(self.seen):
                seen = self.seen[index]
                index += 1
                if (seen.frm == frm or seen.frm.split("/")[0] == frm) and all(
                    getattr(seen, key) == value for key, value in expected.items()
                ):
                    return seen
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                history = "\n".join(
                    f"  {s}" for s in self.seen[since:] if s.frm.split("/")[0] == frm.split("/")[0]
                )
                raise AssertionError(
                    f"no presence from {frm} matching {expected} within {timeout} s; got:\n{history}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    def from_(self, frm: str, since: int = 0) -> list[Seen]:
        return [s for s in self.seen[since:] if s.frm.split("/")[0] == frm]


async def component_barrier(client: ClientXMPP, component: str, timeout: float = 10.0) -> None:
    """Return once ``client`` holds every stanza the component sent it in answer to what the
    client sent before, or on a change the component saw before this call.

    Use it instead of a sleep before a negative check ("the probe got nothing", "no more
    replies"). Two XEP-0199 round trips from ``client`` to the component, through the server:

    1. The server forwards the client's stanzas to the component in order on one stream, so
       when the first pong is back the component has read every earlier stanza and run its
       synchronous handlers (slixmpp answers pings synchronously).
    2. The component's presence and message handlers are coroutines, which slixmpp starts as
       tasks: they run after the pong was queued. Those tasks were scheduled before the second
       ping could even be read, so whatever they send before their first real await (a probe
       answer, a refusal, a flood drop, a publisher flush) is on the stream before the second
       pong.

    The component writes everything on one ordered stream and the server delivers it to the
    client in that order, and slixmpp runs the client's presence and message handlers that are
    plain functions before it resolves the ping: so after the second pong, whatever was sent
    before it has been recorded. A reply that waits for I/O first (a store write, a Wazo call)
    is not covered: wait for a later stanza that must follow it instead.
    """
    for _ in range(2):
        await client.plugin["xep_0199"].ping(component, timeout=timeout)


async def remove_watched_contact(client: ClientXMPP, jid: str, still_subscribed: Callable[[], bool]) -> None:
    """Take ``jid`` (a phone JID the running component serves), left by an earlier test on a
    shared server, out of ``client``'s roster, and return once the component's answer to the
    removal's ``unsubscribe`` has reached the server: arriving after a new ``subscribe``, that
    ``unsubscribed`` would cancel the new request (RFC 6121 3.2) and the component's
    ``subscribed`` would be dropped. ``still_subscribed``: the component's own record; it
    answers right after updating it, and the barrier then sees the answer through the server."""
    if jid not in client.client_roster:
        return
    await client.del_roster_item(jid)
    deadline = asyncio.get_running_loop().time() + 10
    while still_subscribed():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the component did not handle the removal of {jid} within 10 s")
        await asyncio.sleep(0.01)
    await component_barrier(client, jid.split("@", 1)[1])
