"""The mass revocation brake: which enforcement runs wait for an administrator."""

from __future__ import annotations

import pytest

from presence.revocation import RevocationPlan, plan


def drops(*pairs: str) -> list[tuple[str, str]]:
    return [(pair.split(">")[0], pair.split(">")[1]) for pair in pairs]


@pytest.mark.parametrize(
    ("dropped", "stored", "max_share", "braked"),
    [
        pytest.param(drops("alice>x@p.net", "bob>x@p.net"), 10, 0.2, False, id="exactly-the-share"),
        pytest.param(drops("alice>x@p.net", "bob>x@p.net", "carol>x@p.net"), 10, 0.2, True, id="above"),
        pytest.param(drops("alice>x@p.net", "bob>y@p.net"), 3, 0.2, True, id="small-company-two-owners"),
        pytest.param(
            drops("alice>a@e.org", "alice>b@e.org", "alice>c@e.org"), 3, 0.2, False, id="one-owner-never"
        ),
        pytest.param([], 0, 0.2, False, id="nothing-stored"),
        pytest.param([], 100, 0.2, False, id="nothing-dropped"),
        pytest.param(drops("alice>x@p.net", "bob>x@p.net"), 2, 1.0, False, id="share-1-disables"),
        pytest.param(drops("alice>x@p.net", "bob>x@p.net"), 100, 0.01, True, id="tight-share"),
    ],
)
def test_brake_decision(dropped: list[tuple[str, str]], stored: int, max_share: float, braked: bool) -> None:
    assert plan(dropped, stored).braked(max_share) is braked


def test_description_names_the_counts_and_the_watchers_domains() -> None:
    described = plan(
        drops("alice>a@example.org", "bob>a@example.org", "bob>m@partner.net", "carol>b@example.org"), 5
    ).describe()
    assert described == (
        "4 of 5 stored subscriptions (80%, watchers of 3 users) would be dropped; "
        "the watchers are at example.org (3), partner.net (1)"
    )


def test_plan_is_ordered_and_immutable() -> None:
    got = plan(drops("bob>x@p.net", "alice>y@p.net"), 4)
    assert got == RevocationPlan((("alice", "y@p.net"), ("bob", "x@p.net")), 4)
    assert got.share == 0.5
