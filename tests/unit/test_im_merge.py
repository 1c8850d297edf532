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


def test_plain_available_anywhere_wins_over_higher_priority_dnd() -> None:
    merged = merge_resources(
        {"desk": rp(ImShow.DND, priority=50), "mobile": rp(ImShow.AVAILABLE, priority=0)}
    )
    assert merged.show is ImShow.AVAILABLE


def test_chat_beats_plain_available() -> None:
    merged = merge_resources({"a": rp(ImShow.AVAILABLE, priority=10), "b": rp(ImShow.CHAT, priority=-5)})
    assert merged.show is ImShow.CHAT


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"a": rp(ImShow.AWAY, priority=5), "b": rp(ImShow.DND, priority=1)}, ImShow.AWAY),
        ({"a": rp(ImShow.AWAY, priority=1), "b": rp(ImShow.DND, priority=10)}, ImShow.DND),
        ({"a": rp(ImShow.XA, priority=-1), "b": rp(ImShow.DND, priority=-3)}, ImShow.XA),
    ],
    ids=["away-higher", "dnd-higher", "negative-priorities"],
)
def test_otherwise_show_of_highest_priority(resources: dict[str, ResourcePresence], expected: ImShow) -> None:
    assert merge_resources(resources).show is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (ImShow.DND, ImShow.XA, ImShow.XA),
        (ImShow.XA, ImShow.DND, ImShow.XA),
        (ImShow.XA, ImShow.AWAY, ImShow.AWAY),
        (ImShow.DND, ImShow.AWAY, ImShow.AWAY),
    ],
)
def test_priority_tie_goes_to_most_available_show(first: ImShow, second: ImShow, expected: ImShow) -> None:
    merged = merge_resources({"a": rp(first, priority=3), "b": rp(second, priority=3)})
    assert merged.show is expected


def test_status_from_highest_priority_resource_with_text() -> None:
    merged = merge_resources(
        {
            "top": rp(ImShow.AWAY, "", 10),
            "middle": rp(ImShow.AWAY, "in the lab", 7),
            "low": rp(ImShow.AWAY, "old text", 1),
        }
    )
    assert merged == ImState(show=ImShow.AWAY, status="in the lab")


def test_status_ignores_unavailable_resources() -> None:
    merged = merge_resources({"gone": rp(ImShow.OFFLINE, "bye", 99), "here": rp(ImShow.XA, "zzz", 0)})
    assert merged == ImState(show=ImShow.XA, status="zzz")


def test_status_tie_goes_to_most_recent_resource() -> None:
    merged = merge_resources(
        {"older": rp(ImShow.AVAILABLE, "first", 0), "newer": rp(ImShow.AVAILABLE, "second", 0)}
    )
    assert merged.status == "second"


def test_resources_apply_and_unavailable() -> None:
    empty = ImResources()
    one = empty.available("laptop", ImShow.AWAY, "lunch", 5)
    two = one.available("mobile", ImShow.DND, "", 1)
    assert empty.state.show is ImShow.OFFLINE  # values are immutable: the old one is unchanged
    assert one.state == ImState(show=ImShow.AWAY, status="lunch")
    assert two.state == ImState(show=ImShow.AWAY, status="lunch")
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


def test_unavailable_for_unknown_resource_changes_nothing() -> None:
    resources = ImResources().available("a", ImShow.XA)
    assert resources.unavailable("other") == resources
