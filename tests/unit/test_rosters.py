"""The pure roster diff: what to write, remove, remember and forget for one roster."""

from __future__ import annotations

import pytest

from presence.identity import People, Person
from presence.model import UserUuid
from presence.privacy import OwnerPrivacy, PrivacyPolicy
from presence.rosters import (
    RosterChanges,
    RosterItem,
    Written,
    desired_items,
    lost_subscriptions,
    roster_changes,
)

COMPONENT = "phone.example.org"
BOB = "bob@example.org"
POLICY = PrivacyPolicy(local_domains=frozenset({"example.org"}))
ME = RosterItem(COMPONENT, "Phone presence", "both")
ALICE = RosterItem(f"alice@{COMPONENT}", "Alice", "to", "Phones")
CAROL = RosterItem(f"carol@{COMPONENT}", "Carol", "to", "Phones")


def people(*names: str) -> People:
    persons = [Person(f"{n}@example.org", UserUuid(f"uuid-{n}"), n, n.title()) for n in names]
    return People(
        {p.chat_jid: p for p in persons}, {p.wazo_uuid: p for p in persons}, {p.localpart: p for p in persons}
    )


def wanted(*items: RosterItem) -> dict[str, RosterItem]:
    return {item.jid: item for item in items}


def written(*items: RosterItem, removed: frozenset[str] = frozenset()) -> Written:
    return Written({item.jid: item.digest for item in items}, removed)


def test_desired_items_follow_the_rules_and_the_owners_privacy() -> None:
    everyone = people("alice", "bob", "carol")
    hidden = {"carol@example.org": OwnerPrivacy(hidden=True)}

    def privacy(person: Person) -> OwnerPrivacy:
        return hidden.get(person.chat_jid, OwnerPrivacy())

    got = desired_items(
        BOB, everyone, COMPONENT, colleagues=True, group="Phones", policy=POLICY, privacy=privacy
    )
    assert got == wanted(ME, ALICE)  # not himself, not carol (hidden)
    only_me = desired_items(
        BOB, everyone, COMPONENT, colleagues=False, group="Phones", policy=POLICY, privacy=privacy
    )
    assert only_me == wanted(ME)
    hidden["carol@example.org"] = OwnerPrivacy(hidden=True, visible_to=frozenset({"bob@example.org"}))
    got = desired_items(
        BOB, everyone, COMPONENT, colleagues=True, group="Phones", policy=POLICY, privacy=privacy
    )
    assert got == wanted(ME, ALICE, CAROL)


SERVER_ALL = {COMPONENT: "both", ALICE.jid: "to", CAROL.jid: "to"}


@pytest.mark.parametrize(
    ("desired", "before", "server", "expected"),
    [
        pytest.param(wanted(ME, ALICE), written(), {}, RosterChanges(set=(ME, ALICE)), id="first connect"),
        pytest.param(wanted(ME, ALICE), written(ME, ALICE), SERVER_ALL, RosterChanges(), id="unchanged"),
        pytest.param(wanted(ME, ALICE), written(ME, ALICE), None, RosterChanges(), id="unreadable"),
        pytest.param(
            wanted(ME, ALICE),
            written(ME, ALICE),
            {COMPONENT: "both"},
            RosterChanges(removed_by_user=(ALICE.jid,)),
            id="the user deleted a phone JID: remembered, not re-added",
        ),
        pytest.param(
            wanted(ME, ALICE),
            written(ME, ALICE),
            {COMPONENT: "both", ALICE.jid: "none"},
            RosterChanges(removed_by_user=(ALICE.jid,)),
            id="the user cancelled the subscription: same",
        ),
        pytest.param(
            wanted(ME, ALICE),
            written(ME, removed=frozenset({ALICE.jid})),
            {COMPONENT: "both"},
            RosterChanges(),
            id="a remembered removal stays removed",
        ),
        pytest.param(
            wanted(ME),
            written(ME, removed=frozenset({ALICE.jid})),
            {COMPONENT: "both"},
            RosterChanges(forget=(ALICE.jid,)),
            id="a removal no longer relevant is forgotten",
        ),
        pytest.param(
            wanted(ME),
            written(ME, ALICE, CAROL),
            SERVER_ALL,
            RosterChanges(remove=(ALICE.jid, CAROL.jid)),
            id="colleagues left or hidden: removed",
        ),
        pytest.param(
            wanted(ME),
            written(ME, ALICE),
            {COMPONENT: "both", ALICE.jid: "none"},
            RosterChanges(remove=(ALICE.jid,)),
            id="unwanted item downgraded by our own unsubscribed: still removed",
        ),
        pytest.param(
            wanted(ME),
            written(ME, ALICE),
            {COMPONENT: "both"},
            RosterChanges(forget=(ALICE.jid,)),
            id="unwanted item already gone: only forgotten",
        ),
        pytest.param(
            wanted(ME, RosterItem(ALICE.jid, "Alice Smith", "to", "Phones")),
            written(ME, ALICE),
            SERVER_ALL,
            RosterChanges(set=(RosterItem(ALICE.jid, "Alice Smith", "to", "Phones"),)),
            id="a renamed colleague is written again",
        ),
        pytest.param(
            wanted(ME, ALICE),
            written(),
            {ALICE.jid: "to", "friend@example.org": "both"},
            RosterChanges(set=(ME, ALICE)),
            id="items the component never wrote are left alone",
        ),
    ],
)
def test_roster_changes(
    desired: dict[str, RosterItem], before: Written, server: dict[str, str] | None, expected: RosterChanges
) -> None:
    assert roster_changes(desired, before, server) == expected


def test_lost_subscriptions_are_those_without_to() -> None:
    server = {ALICE.jid: "to", CAROL.jid: "none", COMPONENT: "both"}
    assert lost_subscriptions([ALICE.jid, CAROL.jid, f"dave@{COMPONENT}"], server) == [
        CAROL.jid,
        f"dave@{COMPONENT}",
    ]
