"""A user's chat presence across their resources, merged into one :class:`ImState`. Pure.

A person is often connected from several clients at once (phone, laptop, web). Watchers of
``alice@phone.<domain>`` must see one answer, so the resources are merged with the rule slidge
uses (``merge_resources``), made deterministic:

- no available resource: :attr:`ImShow.OFFLINE`;
- any available resource with plain available or ``chat``: available (``chat`` if one says so) —
  the person is at *some* device and answers there, whatever the idle laptop says;
- otherwise the show of the highest-priority resource; on a tie the most available show wins
  (away > xa > dnd), so one idle client does not hide an active one of equal rank;
- the status text comes from the highest-priority resource with a non-empty status; on a tie the
  most recently updated one, because that is the text the user has just typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from presence.model import ImShow, ImState

# Lower is "more available": used to break show ties between equal priorities.
_SHOW_RANK: dict[ImShow, int] = {
    ImShow.CHAT: 0,
    ImShow.AVAILABLE: 1,
    ImShow.AWAY: 2,
    ImShow.XA: 3,
    ImShow.DND: 4,
}

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

    Iteration order is taken as update order (oldest first): it only decides status-text ties.
    Unavailable resources are ignored, as if absent.
    """
    values = resources.values() if isinstance(resources, Mapping) else resources
    online = [r for r in values if r.available]
    if not online:
        return OFFLINE

    shows = {r.show for r in online}
    if ImShow.CHAT in shows:
        show = ImShow.CHAT
    elif ImShow.AVAILABLE in shows:
        show = ImShow.AVAILABLE
    else:
        top = max(r.priority for r in online)
        show = min((r.show for r in online if r.priority == top), key=_SHOW_RANK.__getitem__)

    status = ""
    best: int | None = None
    for r in online:  # ">=" so that the later (more recent) of equal priorities wins
        if r.status and (best is None or r.priority >= best):
            status, best = r.status, r.priority
    return ImState(show=show, status=status)


@dataclass(frozen=True, slots=True)
class ImResources:
    """The available resources of one user, oldest update first. Immutable: each update is a new value.

    A user has a handful of resources at most, so copying the tuple per update is cheaper than
    any shared mutable structure would be to reason about.
    """

    resources: tuple[tuple[str, ResourcePresence], ...] = ()

    def apply(self, resource: str, presence: ResourcePresence) -> ImResources:
        """The resources after ``resource`` sent ``presence`` (available or unavailable)."""
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
