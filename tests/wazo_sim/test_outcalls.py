"""Outgoing routes of a context: Asterisk extension patterns decide what calld may dial out."""

from __future__ import annotations

import pytest

from wazo_sim.config import asterisk_pattern


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        ("_0XXXXXXXXX", ["0123456789"], ["+33123456789", "012345678", "01234567890"]),
        ("_00Z.", ["0044207", "0011"], ["0001", "00"]),
        ("_[+]X.", ["+33123456789"], ["33123456789"]),
        ("_[1-3]N!", ["12", "129999"], ["41", "11"]),
        ("911", ["911"], ["9110", "_911"]),
    ],
)
def test_asterisk_patterns(pattern: str, accepted: list[str], refused: list[str]) -> None:
    regex = asterisk_pattern(pattern)
    assert all(regex.fullmatch(x) for x in accepted), pattern
    assert not any(regex.fullmatch(x) for x in refused), pattern
