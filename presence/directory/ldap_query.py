"""What a directory search sends to LDAP, and the check of what comes back. Pure, no I/O.

User input only ever reaches a filter through :func:`escape_value` (RFC 4515: ``*``, ``(``,
``)``, ``\\`` and NUL become ``\\2a``...), never by concatenating raw text. Every token must match
(AND); each token is a prefix of one of the name attributes.

Accents: LDAP servers compare names case-insensitively but keep accents (OpenLDAP's
caseIgnoreSubstringsMatch, Active Directory alike), and their approximate match (``~=``) compares
whole words, never prefixes. So a token is sent as its accented spellings (:func:`spellings`):
"mul" asks for names starting with mul, mül, mùl, mûl, mul... ("Müller"), "zo" for zo, zö, žo...
("Zoë"). Their number grows with each letter, so only the longest prefix of the token that keeps
them within :data:`SPELLING_BUDGET` is sent (at least its first letter), and :class:`Match`
re-checks each entry locally with the whole token, case- and accent-insensitively, dropping the
people the shorter prefix brought along. Letters that fold into two ("ß" -> "ss", "æ" -> "ae") are
not spelled out: "strasse" finds "Straße" only in the other sources (typing "straße" finds it in
LDAP too, the typed form is always sent as is).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from presence.directory.ranking import fold

MAX_TOKENS = 5
MAX_TOKEN_LENGTH = 64
_SPECIAL = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"}
_NUMBER_CHARS = frozenset("0123456789+")
_NUMBER_SEPARATORS = frozenset(" -.()/")


def escape_value(text: str) -> str:
    """An assertion value per RFC 4515 section 3: the five special characters escaped."""
    return "".join(_SPECIAL.get(c, c) for c in text)


# The accented letters of the names of a European company, by the plain letter typed for them
# (French, German, Spanish, Portuguese, Italian, Nordic, Polish, Czech, Hungarian, Turkish).
ACCENTED = {
    "a": "àáâäãåą",
    "c": "çčć",
    "d": "ďđ",
    "e": "éèêëęě",
    "g": "ğ",
    "i": "íìîïı",
    "l": "ł",
    "n": "ñńň",
    "o": "óòôöõøő",
    "r": "ř",
    "s": "šśş",
    "t": "ťţ",
    "u": "úùûüůű",
    "y": "ýÿ",
    "z": "žźż",
}
# Spellings sent per token (each in every name attribute): "zo" (4 x 8), "mull" (7 x 2 x 2), "el"
# of "eloise" (7 x 2: one more letter would make 112). On slapd with 50,000 people a search takes
# 8-17 ms at 64, as at 32; at 128 some reach 25 ms.
SPELLING_BUDGET = 64


def spellings(word: str, budget: int = SPELLING_BUDGET) -> list[str]:
    """The prefixes that find ``word`` in a server that keeps accents: the word as typed, then its
    folded form's longest prefix written with every combination of plain and accented letters
    that stays within ``budget`` (always at least its first letter's spellings)."""
    spelled = [""]
    for letter in fold(word):
        grown = [start + option for start in spelled for option in letter + ACCENTED.get(letter, "")]
        if len(grown) > budget and spelled != [""]:
            break
        spelled = grown
    unique: dict[str, str] = {}
    for spelling in (word, *spelled):
        unique.setdefault(spelling.casefold(), spelling)
    return list(unique.values())


def is_number_query(token: str) -> bool:
    return any(c.isdigit() for c in token) and all(c in _NUMBER_CHARS for c in token)


def tokens(query: str) -> list[str]:
    """The words of a query; empty when it cannot be a name or a number search (then nothing is
    sent). Control characters and overlong input give nothing rather than an error."""
    if any(ord(c) < 32 for c in query):
        return []
    words = query.split()
    if not words or len(words) > MAX_TOKENS or any(len(w) > MAX_TOKEN_LENGTH for w in words):
        return []
    if all(c in _NUMBER_CHARS or c in _NUMBER_SEPARATORS for c in query.strip()):
        digits = "".join(c for c in query if c in _NUMBER_CHARS)
        return [digits] if is_number_query(digits) else []
    return words


def search_filter(
    query: str, object_filter: str, name_attributes: Sequence[str], phone_attributes: Sequence[str]
) -> str | None:
    """The LDAP filter for ``query``, or None when nothing should be asked."""
    words = tokens(query)
    if not words:
        return None
    parts = []
    for word in words:
        if is_number_query(word):
            # telephoneNumberSubstringsMatch ignores spaces and dashes on the server side.
            digits = escape_value(word.lstrip("+"))
            parts.append("(|" + "".join(f"({a}=*{digits}*)" for a in phone_attributes) + ")")
        else:
            alternatives = [f"({a}={escape_value(s)}*)" for s in spellings(word) for a in name_attributes]
            parts.append("(|" + "".join(alternatives) + ")")
    return f"(&{object_filter}{''.join(parts)})"


def digits_of(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def words_of(names: Iterable[str]) -> list[str]:
    """The folded words of names, as query tokens are compared with them ("Jean-Luc" is two)."""
    return [w for name in names for w in fold(name).replace("-", " ").split()]


@dataclass(frozen=True, slots=True)
class Match:
    """A query prepared once for checking many people: folded name prefixes, digit strings."""

    prefixes: tuple[str, ...]
    digits: tuple[str, ...]

    @classmethod
    def of(cls, query: str) -> Match | None:
        words = tokens(query)
        if not words:
            return None
        return cls(
            tuple(fold(w) for w in words if not is_number_query(w)),
            tuple(digits_of(w) for w in words if is_number_query(w)),
        )

    def accepts(self, name_words: Sequence[str], number_digits: Sequence[str]) -> bool:
        """Every prefix starts one of the words, every digit string is in one of the numbers."""
        return all(any(w.startswith(p) for w in name_words) for p in self.prefixes) and all(
            any(d in n for n in number_digits if n) for d in self.digits
        )
