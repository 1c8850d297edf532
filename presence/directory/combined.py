"""Several directories searched at once, their answers merged and ranked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from presence.directory.model import Directory, DirectoryEntry, DirectoryUnavailable, SearchResult
from presence.directory.ranking import rank

log = logging.getLogger(__name__)

# How a source is named to the user when it cannot answer.
LABELS = {
    "wazo": "colleagues' directory",
    "ldap": "company directory",
    "company": "company address book",
    "personal": "your address book",
}


def label(source: Directory) -> str:
    return str(getattr(source, "label", "") or LABELS.get(source.name, source.name))


class CombinedDirectory:
    """Searches every source concurrently with a deadline. A source that fails or is late is left
    out with a note; only when none answers is the directory unavailable."""

    name = "combined"

    def __init__(
        self,
        sources: Sequence[Directory],
        limit: int = 20,
        deadline: float = 2.0,
        region: str | None = None,
    ) -> None:
        self.sources = tuple(sources)
        self.limit = limit
        self.deadline = deadline
        self.region = region
        # Told of every source's answer: (source name, seconds, error or None); a source that
        # misses the deadline is reported as an error. The app feeds Status and /metrics with it.
        self.on_source_done: Callable[[str, float, str | None], None] | None = None

    async def _timed(self, source: Directory, query: str, owner: str) -> Sequence[DirectoryEntry]:
        started = time.perf_counter()
        try:
            entries = await source.search(query, owner)
        except asyncio.CancelledError:
            self._report(source, started, f"no answer within {self.deadline:g} s")
            raise
        except Exception as error:
            self._report(source, started, str(error) or type(error).__name__)
            raise
        self._report(source, started, None)
        return entries

    def _report(self, source: Directory, started: float, error: str | None) -> None:
        if self.on_source_done is not None:
            self.on_source_done(source.name, time.perf_counter() - started, error)

    async def search(self, query: str, owner: str = "") -> list[DirectoryEntry]:
        return (await self.lookup(query, owner)).entries

    async def lookup(self, query: str, owner: str = "") -> SearchResult:
        tasks = [asyncio.ensure_future(self._timed(source, query, owner)) for source in self.sources]
        if not tasks:
            raise DirectoryUnavailable("no directory configured")
        _done, pending = await asyncio.wait(tasks, timeout=self.deadline)
        for task in pending:
            task.cancel()
        entries: list[DirectoryEntry] = []
        failures: list[str] = []
        notes: list[str] = []
        for source, task in zip(self.sources, tasks, strict=True):
            if task in pending:
                log.warning("directory %s: no answer within %g s", source.name, self.deadline)
                failures.append(f"{source.name}: no answer within {self.deadline:g} s")
                notes.append(f"{label(source)} unavailable")
                continue
            error = task.exception()
            if isinstance(error, DirectoryUnavailable):
                log.warning("directory %s cannot answer: %s", source.name, error)
            elif error is not None:
                log.error("directory %s failed", source.name, exc_info=error)
            if error is not None:
                failures.append(f"{source.name}: {error}")
                notes.append(f"{label(source)} unavailable")
            else:
                entries.extend(task.result())
        if pending:
            # Cancelled tasks are awaited so that none is left half-way (their errors are known).
            await asyncio.gather(*pending, return_exceptions=True)
        if failures and len(failures) == len(self.sources):
            raise DirectoryUnavailable("; ".join(failures))
        return SearchResult(rank(query, entries, self.limit, self.region), notes)
