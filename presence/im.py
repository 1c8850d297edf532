"""A user's chat presence across their resources, merged into one :class:`ImState`. Pure.

A person is often connected from several clients at once (phone, laptop, web). Watchers of
``alice@phone.<domain>`` must see one answer, so the resources are merged with one rule:

1. no available resource: :attr:`ImShow.OFFLINE`;
2. an explicit ``dnd`` on any available resource wins. DND is the person's own choice, made on
   the device they are working at; a phone that sits "available" in a pocket, or signs in later,
   must not erase it;
3. otherwise the show of the highest-priority resource (RFC 6121 priority: the resource the
   person prefers to be reached at);
4. between resources of equal priority (within the dnd ones too), the most recent change wins:
   it is what the person did last;
5. the status text is the one of the resource whose show won, even when empty: a text belongs to
   the show it was typed with ("lunch" goes with away, not with a phone's available).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from presence.model import ImShow, ImState

OFFLINE = ImState(show=ImShow.OFFLINE, status="")


@dataclass(frozen=True, slots=True)
class ResourcePresence:
    """The last presence one resource sent. ``show`` OFFLINE means type='unavailable'."""

    show: ImShow
    status: str = ""
    priority: int = 0

    @property
    def available(self) -> bool:
        return self.show is not ImShow.OFFLINE


def merge_resources(resources: Mapping[str, ResourcePresence] | Iterable[ResourcePresence]) -> ImState:
    """One :class:`ImState` from every resource's presence (see the module docstring for the rule).

    Iteration order is taken as update order (oldest first): it decides ties of priority.
    Unavailable resources are ignored, as if absent.
    """
    values = resources.values() if isinstance(resources, Mapping) else resources
    online = [r for r in values if r.available]
    if not online:
        return OFFLINE
    candidates = [r for r in online if r.show is ImShow.DND] or online
    top = max(r.priority for r in candidates)
    # The last of the top priority is the most recent change (input order is update order).
    winner = [r for r in candidates if r.priority == top][-1]
    return ImState(show=winner.show, status=winner.status)


@dataclass(frozen=True, slots=True)
class ImResources:
    """The available resources of one user, oldest update first. Immutable: each update is a new value.

    A user has a handful of resources at most, so copying the tuple per update is cheaper than
    any shared mutable structure would be to reason about.
    """

    resources: tuple[tuple[str, ResourcePresence], ...] = ()

    def apply(self, resource: str, presence: ResourcePresence) -> ImResources:
        """The resources after ``resource`` sent ``presence`` (available or unavailable)."""
        if self.get(resource) == presence:
            # The same presence again (a client re-announcing itself) is no change: it must not
            # make this resource "the most recent" and win a tie it did not win before.
            return self
        kept = tuple(item for item in self.resources if item[0] != resource)
        if presence.available:
            kept += ((resource, presence),)  # moved to the end: it is now the most recent
        return ImResources(kept)

    def available(
        self, resource: str, show: ImShow = ImShow.AVAILABLE, status: str = "", priority: int = 0
    ) -> ImResources:
        """Shortcut for :meth:`apply` with an available presence."""
        return self.apply(resource, ResourcePresence(show=show, status=status, priority=priority))

    def unavailable(self, resource: str | None) -> ImResources:
        """The resources after an unavailable presence; ``None`` (from the bare JID) drops them all."""
        if resource is None:
            return ImResources()
        return self.apply(resource, ResourcePresence(show=ImShow.OFFLINE))

    def get(self, resource: str) -> ResourcePresence | None:
        for name, presence in self.resources:
            if name == resource:
                return presence
        return None

    @property
    def state(self) -> ImState:
        """The merged chat presence of the user."""
        return merge_resources(presence for _, presence in self.resources)
