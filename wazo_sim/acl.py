"""wazo-auth ACL matching, as xivo-lib-python's ``AccessCheck`` does it (reference wazo-api.md §1.4).

Words are dot-separated; ``*`` is exactly one word, ``#`` any number of words, ``me`` stands for the
token's auth_id, ``my_session`` for its session, and a leading ``!`` forbids what it matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _to_regex(access: str, auth_id: str, session_uuid: str) -> re.Pattern[str]:
    pattern = re.escape(access).replace(r"\*", r"[^.]*?").replace(r"\#", r".*?")
    # ``me`` as a whole word accepts both the literal word and the token's own id.
    me = f"(?:me|{re.escape(auth_id)})"
    session = f"(?:my_session|{re.escape(session_uuid)})"
    pattern = re.sub(r"(?<![^.])me(?![^.\\])", lambda _: me, pattern)
    pattern = re.sub(r"(?<![^.])my_session(?![^.\\])", lambda _: session, pattern)
    return re.compile(f"^{pattern}$")


class AccessCheck:
    """The ACL list of one token, ready to answer ``matches(required)``."""

    def __init__(self, acl: Iterable[str], auth_id: str, session_uuid: str = "") -> None:
        self._allowed: list[re.Pattern[str]] = []
        self._denied: list[re.Pattern[str]] = []
        for access in acl:
            if access.startswith("!"):
                self._denied.append(_to_regex(access[1:], auth_id, session_uuid))
            else:
                self._allowed.append(_to_regex(access, auth_id, session_uuid))

    def matches(self, required: str | None) -> bool:
        if required is None:
            return True
        if any(p.match(required) for p in self._denied):
            return False
        return any(p.match(required) for p in self._allowed)
