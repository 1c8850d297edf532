"""Exponential backoff with full jitter, as a pure object (no sleeping here)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays of min, 2·min, 4·min … capped at max, each drawn uniformly in [delay/2, delay].

    Half-jitter keeps a floor (no hammering a server that just refused us) while spreading
    many instances that lost the same server at the same moment.
    """

    def __init__(self, minimum: float, maximum: float, rand: Callable[[], float] = random.random) -> None:
        if minimum <= 0 or maximum < minimum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._rand = rand
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.minimum * 2.0**self.attempt)
        self.attempt += 1
        return ceiling / 2 + (ceiling / 2) * self._rand()

    def reset(self) -> None:
        self.attempt = 0
