"""Best first: how well an entry's name matches what the user typed. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import phonenumbers

from presence.directory.model import SOURCE_ORDER, DirectoryEntry, NumberKind

# Within one person, the numbers people expect first.
_KIND_ORDER = {
    NumberKind.EXTENSION: 0,
    NumberKind.WORK: 1,
    NumberKind.MOBILE: 2,
    NumberKind.HOME: 3,
    NumberKind.OTHER: 4,
}


# Letters Unicode does not decompose into a base letter and an accent, written as people type
# them on a keyboard without that letter ("Søren" -> "soren", "Łukasz" -> "lukasz").
_UNDECOMPOSED = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "\u0131": "i"}
)  # dotless i


def fold(text: str) -> str:
    """Case- and accent-insensitive form ("Éloïse" -> "eloise", "Søren" -> "soren")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def score(query: str, name: str) -> int:
    """Higher is better: whole name 100, a whole word 80, name prefix 60, word prefix 50,
    substring 30, every query word a word prefix 40; 0 when the name does not show the query
    (the source may have matched on another field, such as an email or a number)."""
    return _score(" ".join(fold(query).split()), " ".join(fold(name).split()))


def _score(q: str, n: str) -> int:
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


def number_key(number: str, region: str | None = None) -> str:
    """The same number written two ways gives one key: E.164 when it parses as a phone number
    (``01 23 45 67 89`` in FR and ``+33 1 23 45 67 89``), else its dialable characters (extensions)."""
    dialable = "".join(c for c in number if c.isdigit() or c in "+*#")
    if len(dialable.lstrip("+")) > 6 and (region or dialable.startswith("+")):
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            return dialable
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return dialable


def _source_order(entry: DirectoryEntry) -> int:
    return SOURCE_ORDER.get(entry.source, len(SOURCE_ORDER))


def rank(
    query: str, entries: Iterable[DirectoryEntry], limit: int = 20, region: str | None = None
) -> list[DirectoryEntry]:
    """Entries best first, one row per number, at most ``limit``.

    Order: how well the name matches, then the source (own contacts, colleagues, LDAP, company
    book), then name and the usual order of number kinds. A number given by several sources (in
    any notation: compared in E.164 with ``region`` for national numbers) keeps its best row."""

    # A broad prefix brings hundreds of entries, often the same names: each name is folded and
    # scored once, and numbers are parsed (phonenumbers is slow) only until ``limit`` rows are kept.
    q = " ".join(fold(query).split())
    names: dict[str, tuple[int, str]] = {}

    def order(e: DirectoryEntry) -> tuple[int, int, str, int, str]:
        named = names.get(e.name)
        if named is None:
            folded = fold(e.name)
            named = names[e.name] = (-_score(q, " ".join(folded.split())), folded)
        return (named[0], _source_order(e), named[1], _KIND_ORDER[e.kind], e.number)

    seen: set[str] = set()
    unique: list[DirectoryEntry] = []
    for entry in sorted(entries, key=order):
        if len(unique) >= limit:
            break
        key = number_key(entry.number, region)
        if key and key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique
