"""What each directory and calendar source did: requests, errors, last success, last error.

Pure bookkeeping, no I/O: the sources report each request with its duration and outcome; the
admin Status command reads the figures, and an optional listener (the Prometheus metrics) sees
every report. Keyed by (source, kind): ``("ldap", "search")``, ``("company", "sync")``,
``("calendar", "poll")``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_ERROR_TEXT = 200  # an error is kept for Status on one line, never a whole server answer


@dataclass(slots=True)
class SourceFigures:
    requests: int = 0
    errors: int = 0
    last_ok_at: float | None = None  # wall clock (time.time())
    last_error_at: float | None = None
    last_error: str = ""
    failing: bool = False  # the last request failed


Listener = Callable[[str, str, float, str | None], None]  # source, kind, seconds, error or None


class SourceActivity:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._figures: dict[tuple[str, str], SourceFigures] = {}
        self.listener: Listener | None = None

    def record(self, source: str, kind: str, seconds: float, error: str | None = None) -> None:
        figures = self._figures.setdefault((source, kind), SourceFigures())
        figures.requests += 1
        figures.failing = error is not None
        if error is None:
            figures.last_ok_at = self._clock()
        else:
            figures.errors += 1
            figures.last_error_at = self._clock()
            first_line = error.strip().splitlines()[0] if error.strip() else "error"
            figures.last_error = first_line[:MAX_ERROR_TEXT]
        if self.listener is not None:
            self.listener(source, kind, seconds, error)

    def figures(self, source: str, kind: str) -> SourceFigures:
        return self._figures.get((source, kind), SourceFigures())

    def describe(self, source: str, kind: str, noun: str) -> str:
        """``12 searches, 1 error; last answer 3 s ago; last error 40 s ago: timeout`` in words."""
        figures = self.figures(source, kind)
        if not figures.requests:
            return f"no {noun} yet"
        parts = [
            f"{figures.requests} {noun}, {figures.errors} {'error' if figures.errors == 1 else 'errors'}"
        ]
        parts.append(f"last success {self.age(figures.last_ok_at)}")
        if figures.last_error_at is not None:
            parts.append(f"last error {self.age(figures.last_error_at)}: {figures.last_error}")
        return "; ".join(parts)

    def age(self, when: float | None) -> str:
        if when is None:
            return "never"
        seconds = max(self._clock() - when, 0.0)
        return f"{seconds:.0f} s ago" if seconds >= 1 else "less than 1 s ago"
