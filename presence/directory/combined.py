"""Several directories searched at once, their answers merged and ranked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from presence.directory.model import Directory, DirectoryEntry, DirectoryUnavailable
from presence.directory.ranking import rank

log = logging.getLogger(__name__)


class CombinedDirectory:
    """Searches every source concurrently; a source that fails is logged and left out, unless
    all fail (then :class:`DirectoryUnavailable`)."""

    name = "combined"

    def __init__(self, sources: Sequence[Directory], limit: int = 20) -> None:
        self.sources = tuple(sources)
        self.limit = limit

    async def search(self, query: str) -> list[DirectoryEntry]:
        results = await asyncio.gather(
            *(source.search(query) for source in self.sources), return_exceptions=True
        )
        entries: list[DirectoryEntry] = []
        failures: list[str] = []
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, DirectoryUnavailable):
                log.warning("directory %s cannot answer: %s", source.name, result)
                failures.append(f"{source.name}: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                entries.extend(result)
        if failures and len(failures) == len(self.sources):
            raise DirectoryUnavailable("; ".join(failures))
        return rank(query, entries, self.limit)
