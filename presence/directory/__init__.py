"""Who to call: directory sources behind one interface, and the ranking of their results.

A source implements :class:`Directory` (``async search(query) -> entries``); the Wazo user list is
the first (:class:`WazoUsersDirectory`). LDAP and CardDAV sources plug in the same way, and
:class:`CombinedDirectory` merges, de-duplicates and ranks what they return. Commands only see
:class:`Directory`.
"""

from presence.directory.combined import CombinedDirectory
from presence.directory.model import (
    Directory,
    DirectoryEntry,
    DirectoryUnavailable,
    NumberKind,
    SearchResult,
)
from presence.directory.ranking import rank, score
from presence.directory.wazo_users import WazoUsersDirectory

__all__ = [
    "CombinedDirectory",
    "Directory",
    "DirectoryEntry",
    "DirectoryUnavailable",
    "NumberKind",
    "SearchResult",
    "WazoUsersDirectory",
    "rank",
    "score",
]
