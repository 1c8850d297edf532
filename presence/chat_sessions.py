"""Who is online in chat: the one answer to "can this watcher receive a presence now?". Pure.

The XMPP server discards a presence sent to a local user with no available resource, so the
publisher skips watchers *known* to be offline. Known is the key word: a watcher the component
has not heard about (another domain, a user who did not approve the component's subscription,
one not learnt yet on this stream, one who revoked the approval) may be online, and receives.
A watcher is known offline only on evidence from the server: an ``unavailable`` presence, or
the post-connect sweep of XEP-0356 mode ("not heard from when the server's pong came").

Coming online needs nothing from the publisher: the server probes every phone JID in the
watcher's roster at login and the probe is answered with the current presence. A probe from a
watcher known offline clears that knowledge (ejabberd probes before it broadcasts the login).

Across a reconnect of the component's stream (:meth:`new_stream`), a watcher whose every
resource's presence the server stamped (XEP-0203 ``delay``, Prosody does) before ``cutoff`` kept
the same sessions through the outage: it holds what the component sent it, so only changes need
sending (:meth:`continued`). Anyone else may have logged in while the link was down, with
probes that bounced off the missing component: they get everything again.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from presence.im import ImResources


class ChatSessions:
    def __init__(self) -> None:
        # Bare chat JID -> its available resources heard on this stream (never empty).
        self._resources: dict[str, ImResources] = {}
        # Bare JIDs known to have no available resource (on this stream's evidence).
        self._offline: set[str] = set()
        # Online at the end of the previous stream, and heard on this one with a presence the
        # server may have set during the outage (unstamped, or stamped after the cutoff).
        self._was_online: frozenset[str] = frozenset()
        self._fresh: set[str] = set()
        self._cutoff: float | None = None

    # --- learning (the intake) --------------------------------------------------------------------

    def new_stream(self, cutoff: float | None) -> None:
        """A new stream to the server: forget everything learnt, to be learnt again from the answers.

        ``cutoff`` (Unix time): everything the component wrote before it reached the server (a
        pong proved it); None: nothing is proven, nobody continues.
        """
        self._was_online = frozenset(self._resources)
        self._resources.clear()
        self._offline.clear()
        self._fresh.clear()
        self._cutoff = cutoff

    def resources(self, jid: str) -> ImResources:
        return self._resources.get(jid) or ImResources()

    def update(self, jid: str, resources: ImResources, stamp: float | None = None) -> None:
        """``jid``'s resources after a presence from it; ``stamp``: when the server says it was set."""
        if resources.resources:
            self._resources[jid] = resources
            self._offline.discard(jid)
            if self._cutoff is None or stamp is None or stamp >= self._cutoff:
                self._fresh.add(jid)
        else:
            self._resources.pop(jid, None)
            self._offline.add(jid)

    def offline(self, jid: str) -> None:
        """The server's silence says ``jid`` has no resource (XEP-0356 sweep)."""
        self._resources.pop(jid, None)
        self._offline.add(jid)

    def forget(self, jid: str) -> None:
        """Nothing more will be heard from ``jid`` (approval revoked, dropped from the bound)."""
        self._resources.pop(jid, None)
        self._offline.discard(jid)

    def probed(self, jid: str) -> None:
        """``jid``'s server probed the component: a session is starting, whatever was known."""
        self._offline.discard(jid)

    # --- reading (the publisher, the admins' status) ---------------------------------------------

    def may_receive(self, jid: str) -> bool:
        """False only for a watcher known to be offline."""
        return jid not in self._offline

    def known_offline(self) -> AbstractSet[str]:
        """The watchers known offline, to test membership in the publisher's loops (read only)."""
        return self._offline

    def continued(self, jid: str) -> bool:
        """Online before and after the reconnect, with no session that may have started meanwhile."""
        return jid in self._was_online and jid in self._resources and jid not in self._fresh

    def online_count(self) -> int:
        return len(self._resources)

    def known(self, jid: str) -> bool:
        return jid in self._resources

    def jids(self) -> list[str]:
        return list(self._resources)
