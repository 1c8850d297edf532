"""What a directory search sends to LDAP, and the check of what comes back. Pure, no I/O.

User input only ever reaches a filter through :func:`escape_value` (RFC 4515: ``*``, ``(``,
``)``, ``\\`` and NUL become ``\\2a``...), never by concatenating raw text. Every token must match
(AND); each token is a prefix of one of the name attributes or, for OpenLDAP and AD alike, an
approximate match (``~=``), which is how "muller" reaches "Müller" on a server whose substring
matching keeps accents. Approximate matching over-matches, so :func:`matches` re-checks each entry
locally, case- and accent-insensitively, and drops what the user did not ask for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from presence.directory.ranking import fold

MAX_TOKENS = 5
MAX_TOKEN_LENGTH = 64
_SPECIAL = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"}
_NUMBER_CHARS = frozenset("0123456789+")
_NUMBER_SEPARATORS = frozenset(" -.()/")


def escape_value(text: str) -> str:
    """An assertion value per RFC 4515 section 3: the five special characters escaped."""
    return "".join(_SPECIAL.get(c, c) for c in text)


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
        value = escape_value(word)
        if is_number_query(word):
            # telephoneNumberSubstringsMatch ignores spaces and dashes on the server side.
            digits = escape_value(word.lstrip("+"))
            parts.append("(|" + "".join(f"({a}=*{digits}*)" for a in phone_attributes) + ")")
        else:
            alternatives = [f"({a}={value}*)" for a in name_attributes]
            if word.isalpha() and len(word) >= 3:
                alternatives += [f"({a}~={value})" for a in name_attributes]
            parts.append("(|" + "".join(alternatives) + ")")
    return f"(&{object_filter}{''.join(parts)})"


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def matches(query: str, names: Iterable[str], numbers: Iterable[str]) -> bool:
    """Every token is a word prefix of one of the names (folded) or digits of one of the numbers."""
    words = tokens(query)
    if not words:
        return False
    name_words = [w for name in names for w in fold(name).replace("-", " ").split()]
    number_digits = [_digits(n) for n in numbers]
    for word in words:
        if is_number_query(word):
            if not any(_digits(word) in d for d in number_digits if d):
                return False
        elif not any(w.startswith(fold(word)) for w in name_words):
            return False
    return True
