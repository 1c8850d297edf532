"""Exponential backoff with jitter: one policy for every retry loop (XMPP stream, Wazo auth, events)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays ``initial · 2ⁿ`` capped at ``maximum``, each scaled by a random factor in [0.5, 1).

    The jitter keeps many component instances (or many retries after a Wazo restart) from
    hitting Wazo in lock-step.
    """

    def __init__(self, initial: float, maximum: float, *, rng: Callable[[], float] = random.random) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failed attempt."""
        ceiling = min(self._maximum, self._initial * 2.0**self.attempts)
        self.attempts += 1
        return ceiling * (0.5 + self._rng() / 2)

    def reset(self) -> None:
        """Call after a success: the next failure starts again from ``initial``."""
        self.attempts = 0
