"""A sliding-window limit per key (per user): at most ``limit`` events in ``window`` seconds."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        # Keys come from remote input (any JID can write to us): forget the idle ones once there
        # are many, so the table stays bounded by the senders of the last window.
        self._max_keys = max_keys
        self._purge_at = max_keys

    def acquire(self, key: str) -> float | None:
        """Count one event now and return ``None``, or refuse it and return the seconds to wait."""
        now = self._clock()
        if len(self._events) >= self._purge_at and key not in self._events:
            self._forget_idle(now)
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(0.0, events[0] + self.window - now)
        events.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        horizon = now - self.window
        for key in [k for k, events in self._events.items() if not events or events[-1] <= horizon]:
            del self._events[key]
        # Under a burst of distinct live senders nothing is idle: scan again only after the table
        # doubles, so each acquire stays O(1) amortised.
        self._purge_at = max(self._max_keys, 2 * len(self._events))

    def __len__(self) -> int:
        return len(self._events)
