"""Signed links to a voicemail recording: anyone holding the link may listen, until it expires.

A link names the message, its owner (Wazo user uuid) and an expiry time, and carries an HMAC of
the three under the component's key, so a link cannot be made for another message or owner,
nor have its lifetime stretched. The listener still checks that the message is in the owner's
mailbox before streaming it. No I/O here; the clock is injected (tests move it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

# calld message ids look like "1724107750-00000001"; anything else never reaches Wazo.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")
_OWNER = re.compile(r"[A-Za-z0-9-]{1,64}")
PATH_PREFIX = "/voicemail/"


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a verified link grants: listening to ``message_id`` of ``owner_uuid``'s mailbox."""

    message_id: str
    owner_uuid: str


class LinkSigner:
    def __init__(self, key: bytes, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.lifetime = lifetime
        self.clock = clock  # public: tests move time forward

    def _signature(self, message_id: str, owner_uuid: str, expires: int) -> str:
        signed = f"{message_id}\n{owner_uuid}\n{expires}".encode()
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def path(self, message_id: str, owner_uuid: str) -> str:
        """The link's path and query, valid for :attr:`lifetime` seconds from now.

        The path ends in ``.wav`` so that clients that pick an inline player by name do.
        """
        expires = int(self.clock()) + self.lifetime
        query = urlencode(
            {"u": owner_uuid, "e": str(expires), "s": self._signature(message_id, owner_uuid, expires)}
        )
        return f"{PATH_PREFIX}{quote(message_id, safe='')}.wav?{query}"

    def url(self, base_url: str, message_id: str, owner_uuid: str) -> str:
        return base_url.rstrip("/") + self.path(message_id, owner_uuid)

    def verify(self, message_id: str, owner: str, expires: str, signature: str) -> LinkClaim | None:
        """The claim of an authentic, unexpired link; ``None`` for anything else (never says why)."""
        if not (_MESSAGE_ID.fullmatch(message_id) and _OWNER.fullmatch(owner) and expires.isdigit()):
            return None
        if len(expires) > 12:
            return None
        expected = self._signature(message_id, owner, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return None
        if self.clock() >= int(expires):
            return None
        return LinkClaim(message_id, owner)
