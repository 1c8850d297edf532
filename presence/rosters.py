"""What the component should have in each user's roster, and the smallest change to get there. Pure.

With XEP-0356 roster access the component writes, into a user's (the watcher's) roster, its own
domain (subscription ``both``: it sees the user's chat presence and the user sees its own) and,
with ``roster_colleagues``, the phone JID of each colleague the rules let the watcher see
(subscription ``to``: the watcher sees the phone JID; the phone JID needs nothing from them).

Rules, applied on every connect:

- only the difference between what is wanted now and what the component wrote last time is sent
  (a reconnect where nothing changed sends nothing);
- an item the component wrote and the server roster no longer has (or has without ``to``) was
  removed by the user: it is remembered and never written again, and the watcher's stored
  subscription to that phone JID is dropped;
- an item the component wrote and no longer wants (the colleague left Wazo, or the rules no longer
  let the watcher see them) is removed; items the component never wrote are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from presence.identity import People, Person
from presence.privacy import OwnerPrivacy, PrivacyPolicy, company_allows

# What the server roster says of each item: jid -> subscription (none, to, from, both).
ServerRoster = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RosterItem:
    jid: str
    name: str
    subscription: str  # "to" or "both"
    group: str = ""  # "" for no group

    @property
    def digest(self) -> str:
        """What was written, as one comparable string (kept in the store)."""
        return f"{self.subscription}\x1f{self.name}\x1f{self.group}"


@dataclass(frozen=True, slots=True)
class Written:
    """What the component wrote into one roster: item jid -> digest; and the items the user removed."""

    items: Mapping[str, str] = field(default_factory=dict)
    removed_by_user: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RosterChanges:
    set: tuple[RosterItem, ...] = ()
    remove: tuple[str, ...] = ()  # items the component wrote and no longer wants
    removed_by_user: tuple[str, ...] = ()  # newly seen removals (to remember, never to re-add)
    forget: tuple[str, ...] = ()  # user-removed items no longer wanted anyway: drop the memory

    def __bool__(self) -> bool:
        return bool(self.set or self.remove or self.removed_by_user or self.forget)


def has_to(subscription: str | None) -> bool:
    return subscription in ("to", "both")


@dataclass(frozen=True, slots=True)
class Colleagues:
    """Every provisioned person's roster item, split by their own privacy choice; built once per
    sync so that each watcher's wanted items cost a copy, not a pass over everyone's rules."""

    open: Mapping[str, RosterItem]  # phone JID -> item, owners visible to all the company allows
    hidden: tuple[tuple[RosterItem, frozenset[str]], ...]  # (item, the only JIDs who may see it)
    own: Mapping[str, str]  # chat JID -> their own phone JID (never in their own roster)


def colleagues_of(
    people: People, component: str, group: str, privacy: Callable[[Person], OwnerPrivacy]
) -> Colleagues:
    open_items: dict[str, RosterItem] = {}
    hidden: list[tuple[RosterItem, frozenset[str]]] = []
    own: dict[str, str] = {}
    for person in people.by_chat_jid.values():
        jid = f"{person.localpart}@{component}"
        item = RosterItem(jid, person.display_name or person.localpart, "to", group)
        own[person.chat_jid] = jid
        owner = privacy(person)
        if owner.hidden:
            hidden.append((item, owner.visible_to))
        else:
            open_items[jid] = item
    return Colleagues(open_items, tuple(hidden), own)


def desired_items(
    watcher: str,
    people: People,
    component: str,
    *,
    colleagues: bool,
    group: str,
    policy: PrivacyPolicy,
    privacy: Callable[[Person], OwnerPrivacy],
    everyone: Colleagues | None = None,
) -> dict[str, RosterItem]:
    """The items wanted in ``watcher``'s roster (a bare chat JID of a served domain).

    ``everyone`` is :func:`colleagues_of` computed once for a whole sync (built here when not
    given): rebuilding every colleague's item and rules for each watcher made a sync of N
    rosters cost N x N of that work.
    """
    wanted = {component: RosterItem(component, "Phone presence", "both")}
    # may_see, with the per-watcher part done once: the company's rule depends on the watcher
    # only (an owner's list never widens it); then each owner's own choice.
    if not colleagues or not company_allows(policy, watcher):
        return wanted
    if everyone is None:
        everyone = colleagues_of(people, component, group, privacy)
    wanted.update(everyone.open)
    for item, visible_to in everyone.hidden:
        if watcher in visible_to:
            wanted[item.jid] = item
    wanted.pop(everyone.own.get(watcher, ""), None)
    return wanted


def roster_changes(
    desired: Mapping[str, RosterItem], written: Written, server: ServerRoster | None
) -> RosterChanges:
    """The changes to send to one roster. ``server`` is the roster read now (None: could not read)."""
    newly_removed: list[str] = []  # wanted, written, and taken out by the user
    to_remove: list[str] = []
    forget = [jid for jid in written.removed_by_user if jid not in desired]
    for jid in written.items:
        if jid in desired:
            # Every item is written with "to" or "both": without "to" now, the user removed it
            # (or cancelled the subscription, which is the same wish).
            if server is not None and not has_to(server.get(jid)):
                newly_removed.append(jid)
        elif server is None or jid in server:
            to_remove.append(jid)  # ours, no longer wanted (left, or no longer allowed to be seen)
        else:
            forget.append(jid)  # ours, unwanted, and already gone
    removed = written.removed_by_user.union(newly_removed)
    to_set = tuple(
        item for jid, item in desired.items() if jid not in removed and written.items.get(jid) != item.digest
    )
    return RosterChanges(
        set=to_set, remove=tuple(to_remove), removed_by_user=tuple(newly_removed), forget=tuple(forget)
    )


def lost_subscriptions(watcher_subscribed_to: Iterable[str], server: ServerRoster) -> list[str]:
    """Phone JIDs the watcher is recorded as subscribed to but whose roster no longer has with ``to``."""
    return [jid for jid in watcher_subscribed_to if not has_to(server.get(jid))]
