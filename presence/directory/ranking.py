"""Best first: how well an entry's name matches what the user typed. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from presence.directory.model import DirectoryEntry, NumberKind

# Within one person, the numbers people expect first.
_KIND_ORDER = {
    NumberKind.EXTENSION: 0,
    NumberKind.WORK: 1,
    NumberKind.MOBILE: 2,
    NumberKind.HOME: 3,
    NumberKind.OTHER: 4,
}


def fold(text: str) -> str:
    """Case- and accent-insensitive form ("Éloïse" -> "eloise")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def score(query: str, name: str) -> int:
    """Higher is better: whole name 100, a whole word 80, name prefix 60, word prefix 50,
    substring 30, every query word a word prefix 40; 0 when the name does not show the query
    (the source may have matched on another field, such as an email or a number)."""
    q = " ".join(fold(query).split())
    n = " ".join(fold(name).split())
    if not q or not n:
        return 0
    words = n.split()
    if q == n:
        return 100
    if q in words:
        return 80
    if n.startswith(q):
        return 60
    if any(word.startswith(q) for word in words):
        return 50
    q_words = q.split()
    if len(q_words) > 1 and all(any(w.startswith(qw) for w in words) for qw in q_words):
        return 40
    if q in n:
        return 30
    return 0


def rank(query: str, entries: Iterable[DirectoryEntry], limit: int = 20) -> list[DirectoryEntry]:
    """Entries best first, one row per number (the first source to give a number wins), at most
    ``limit``. Ties: by name, then the usual order of number kinds."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        key = "".join(c for c in entry.number if c.isdigit() or c in "+*#")
        if key and key not in seen:
            seen.add(key)
            unique.append(entry)
    unique.sort(key=lambda e: (-score(query, e.name), fold(e.name), _KIND_ORDER[e.kind], e.number))
    return unique[:limit]
