"""Merging a user's chat resources into one ImState, and the ImResources update helper."""

from __future__ import annotations

import pytest

from presence.im import ImResources, ResourcePresence, merge_resources
from presence.model import ImShow, ImState


def rp(show: ImShow, status: str = "", priority: int = 0) -> ResourcePresence:
    return ResourcePresence(show=show, status=status, priority=priority)


def test_no_resource_is_offline() -> None:
    assert merge_resources({}) == ImState(show=ImShow.OFFLINE, status="")


def test_only_unavailable_resources_is_offline() -> None:
    merged = merge_resources({"laptop": rp(ImShow.OFFLINE, "gone home", 5)})
    assert merged == ImState(show=ImShow.OFFLINE, status="")


# The rule, one row per case. Resources are listed oldest update first (the last is the most
# recent); each is (name, show, status, priority).
MERGE_TABLE = [
    pytest.param(
        [("desk", ImShow.DND, "writing", 0), ("phone", ImShow.AVAILABLE, "", 0)],
        ImState(ImShow.DND, "writing"),
        id="dnd-on-desk-beats-a-more-recent-available-phone",
    ),
    pytest.param(
        [("desk", ImShow.DND, "", -5), ("phone", ImShow.CHAT, "hi", 50)],
        ImState(ImShow.DND, ""),
        id="dnd-beats-higher-priority-chat-and-takes-its-own-empty-text",
    ),
    pytest.param(
        [("a", ImShow.DND, "first", 1), ("b", ImShow.DND, "second", 5), ("c", ImShow.AWAY, "x", 9)],
        ImState(ImShow.DND, "second"),
        id="several-dnd-highest-priority-dnd-gives-the-text",
    ),
    pytest.param(
        [("a", ImShow.DND, "older", 3), ("b", ImShow.DND, "newer", 3)],
        ImState(ImShow.DND, "newer"),
        id="several-dnd-same-priority-most-recent-gives-the-text",
    ),
    pytest.param(
        [("laptop", ImShow.AWAY, "lunch", 10), ("phone", ImShow.AVAILABLE, "", 0)],
        ImState(ImShow.AWAY, "lunch"),
        id="no-dnd-highest-priority-wins-even-over-available",
    ),
    pytest.param(
        [("a", ImShow.AVAILABLE, "", 10), ("b", ImShow.CHAT, "", -5)],
        ImState(ImShow.AVAILABLE, ""),
        id="no-dnd-highest-priority-wins-over-chat",
    ),
    pytest.param(
        [("a", ImShow.XA, "", -1), ("b", ImShow.AWAY, "", -3)],
        ImState(ImShow.XA, ""),
        id="negative-priorities-compare-as-numbers",
    ),
    pytest.param(
        [("a", ImShow.AWAY, "old", 3), ("b", ImShow.XA, "new", 3)],
        ImState(ImShow.XA, "new"),
        id="equal-priority-most-recent-change-wins",
    ),
    pytest.param(
        [("a", ImShow.XA, "new", 3), ("b", ImShow.AWAY, "", 3)],
        ImState(ImShow.AWAY, ""),
        id="status-text-comes-only-from-the-winner-even-if-empty",
    ),
    pytest.param(
        [("top", ImShow.AWAY, "", 10), ("low", ImShow.AWAY, "in the lab", 7)],
        ImState(ImShow.AWAY, ""),
        id="another-resource-text-is-not-borrowed",
    ),
    pytest.param(
        [("gone", ImShow.OFFLINE, "bye", 99), ("here", ImShow.XA, "zzz", 0)],
        ImState(ImShow.XA, "zzz"),
        id="unavailable-resources-are-ignored",
    ),
    pytest.param(
        [("gone", ImShow.OFFLINE, "dnd before leaving", 99)],
        ImState(ImShow.OFFLINE, ""),
        id="only-unavailable-is-offline",
    ),
]


@pytest.mark.parametrize(("resources", "expected"), MERGE_TABLE)
def test_merge_rule(resources: list[tuple[str, ImShow, str, int]], expected: ImState) -> None:
    merged = merge_resources({name: rp(show, status, priority) for name, show, status, priority in resources})
    assert merged == expected


def test_a_phone_coming_online_available_does_not_erase_dnd_set_on_the_desktop() -> None:
    resources = ImResources().available("desktop", ImShow.DND, "focus time", 0)
    resources = resources.available("phone", ImShow.AVAILABLE, "", 0)
    assert resources.state == ImState(ImShow.DND, "focus time")
    # Leaving DND on the desktop gives the rule back to priority and recency.
    resources = resources.available("desktop", ImShow.AVAILABLE, "back", 0)
    assert resources.state == ImState(ImShow.AVAILABLE, "back")


def test_resources_apply_and_unavailable() -> None:
    empty = ImResources()
    one = empty.available("laptop", ImShow.AWAY, "lunch", 5)
    two = one.available("mobile", ImShow.DND, "", 1)
    assert empty.state.show is ImShow.OFFLINE  # values are immutable: the old one is unchanged
    assert one.state == ImState(show=ImShow.AWAY, status="lunch")
    assert two.state == ImState(show=ImShow.DND, status="")  # an explicit dnd wins
    after = two.unavailable("laptop")
    assert after.state == ImState(show=ImShow.DND, status="")
    assert after.get("laptop") is None
    assert after.get("mobile") == rp(ImShow.DND, "", 1)
    assert after.unavailable("mobile").state.show is ImShow.OFFLINE


def test_bare_jid_unavailable_drops_every_resource() -> None:
    resources = ImResources().available("a").available("b", ImShow.CHAT)
    assert resources.unavailable(None).resources == ()
    assert resources.unavailable(None).state.show is ImShow.OFFLINE


def test_updating_a_resource_makes_it_the_most_recent() -> None:
    resources = ImResources().available("a", status="from a").available("b", status="from b")
    assert resources.state.status == "from b"
    resources = resources.available("a", status="a again")
    assert [name for name, _ in resources.resources] == ["b", "a"]
    assert resources.state.status == "a again"


def test_the_same_presence_again_is_not_a_change() -> None:
    resources = ImResources().available("a", ImShow.AWAY, "lunch").available("b", ImShow.XA, "gone")
    assert resources.state == ImState(ImShow.XA, "gone")
    assert resources.available("a", ImShow.AWAY, "lunch") == resources
    assert resources.available("a", ImShow.AWAY, "lunch").state == ImState(ImShow.XA, "gone")


def test_unavailable_for_unknown_resource_changes_nothing() -> None:
    resources = ImResources().available("a", ImShow.XA)
    assert resources.unavailable("other") == resources
