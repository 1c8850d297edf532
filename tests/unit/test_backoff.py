"""The one retry policy: exponential, capped, jittered within [half, all] of the ceiling."""

from __future__ import annotations

import pytest

from presence.backoff import Backoff


def test_delays_double_up_to_the_cap_and_reset_starts_over() -> None:
    top = Backoff(1.0, 10.0, rng=lambda: 0.999999)
    assert [round(top.next_delay(), 3) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    top.reset()
    assert round(top.next_delay(), 3) == 1.0
    bottom = Backoff(1.0, 10.0, rng=lambda: 0.0)
    assert [bottom.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert bottom.attempts == 5


def test_real_jitter_stays_within_bounds() -> None:
    backoff = Backoff(0.2, 3.0)
    for attempt in range(20):
        ceiling = min(3.0, 0.2 * 2**attempt)
        assert ceiling / 2 <= backoff.next_delay() <= ceiling


@pytest.mark.parametrize(("initial", "maximum"), [(0, 1), (-1, 1), (2, 1)])
def test_impossible_bounds_are_refused(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="0 < initial <= maximum"):
        Backoff(initial, maximum)
