"""A user's name put into a DAV server's URL (a principal name, a url template's {localpart}).
Pure, no I/O."""

from __future__ import annotations


def is_single_segment(name: str) -> bool:
    """Whether ``name`` is one path segment that stays one. The name comes from a Wazo username or
    e-mail: quoting its "/" is not enough, as servers (Radicale) decode %2F and then resolve "..",
    so "x/../bob" or "x%2f..%2fbob" led to bob's principal, calendars or address book. "%" is
    refused for that reason, "\\" as some servers take it for "/", "." and ".." as they are paths."""
    return (
        bool(name) and name not in (".", "..") and not any(c in name for c in "/\\%") and name.isprintable()
    )
