"""The mass revocation brake: when enforcing the privacy rules would drop too many watchers at once.

Enforcement drops every stored subscription the rules no longer allow. A legitimate change drops
a few (a user hides their phone, a partner is removed); an operator's slip (a typo in
``component.user_domains``, a shortened allow list) would drop most of them, and a dropped watcher
must re-add the contact by hand. So one run that would drop more than ``max_share`` of the stored
subscriptions, across more than one owner, drops nothing and waits for an administrator's
confirmation. One owner's drops are never braked: that is a user's own privacy choice (or one
user's watchers), not a mass revocation. Pure: the caller applies the decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from presence.privacy import domain_of

Subscription = tuple[str, str]  # (phone JID localpart the watcher sees, subscriber bare JID)


@dataclass(frozen=True, slots=True)
class RevocationPlan:
    """The subscriptions one enforcement run would drop, out of how many stored."""

    drops: tuple[Subscription, ...]
    stored: int

    @property
    def share(self) -> float:
        return len(self.drops) / self.stored if self.stored else 0.0

    @property
    def owners(self) -> int:
        return len({owner for owner, _ in self.drops})

    def braked(self, max_share: float) -> bool:
        """True when this run must wait for an administrator's confirmation."""
        return self.owners > 1 and self.share > max_share

    def watcher_domains(self) -> list[tuple[str, int]]:
        """The watchers' domains with how many subscriptions each would lose, most first."""
        counts = Counter(domain_of(subscriber) for _, subscriber in self.drops)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def describe(self) -> str:
        """One sentence for the log and the admin: how many, and whose watchers."""
        domains = ", ".join(f"{domain} ({count})" for domain, count in self.watcher_domains()[:5])
        users = "1 user" if self.owners == 1 else f"{self.owners} users"
        return (
            f"{len(self.drops)} of {self.stored} stored subscriptions ({self.share:.0%}, "
            f"watchers of {users}) would be dropped; the watchers are at {domains}"
        )


def plan(drops: Collection[Subscription], stored: int) -> RevocationPlan:
    return RevocationPlan(tuple(sorted(drops)), stored)
