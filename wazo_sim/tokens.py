"""wazo-auth tokens: issue, look up, revoke, expire (reference wazo-api.md §2)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wazo_sim.acl import AccessCheck
from wazo_sim.config import ServiceAccountConfig, SimConfig, UserConfig

# wazo-auth's bounds on ``expiration`` (wazo-auth: tokens/schemas.py).
MIN_EXPIRATION = 1
MAX_EXPIRATION = 315360000


@dataclass(slots=True)
class Token:
    """One issued token and the identity it carries."""

    token: str
    auth_id: str
    pbx_user_uuid: str | None
    tenant_uuid: str
    purpose: str  # user | external_api | internal
    acl: tuple[str, ...]
    issued_at: float
    expires_at: float
    session_uuid: str
    remote_addr: str = ""
    user_agent: str = ""
    access: AccessCheck = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.access = AccessCheck(self.acl, self.auth_id, self.session_uuid)

    @property
    def is_tenant_admin(self) -> bool:
        """websocketd delivers every event of the tenant to these tokens (§3.5)."""
        return self.purpose in ("external_api", "internal")

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def to_dict(self, wazo_uuid: str) -> dict[str, Any]:
        """The ``data`` of a token response, keys as wazo-auth's ``Token.to_dict``."""
        metadata: dict[str, Any] = {
            "uuid": self.auth_id,
            "tenant_uuid": self.tenant_uuid,
            "auth_id": self.auth_id,
            "pbx_user_uuid": self.pbx_user_uuid,
            "xivo_uuid": wazo_uuid,
            "purpose": self.purpose,
        }
        return {
            "token": self.token,
            "auth_id": self.auth_id,
            "xivo_user_uuid": self.pbx_user_uuid,
            "xivo_uuid": wazo_uuid,
            "issued_at": _local_iso(self.issued_at),
            "expires_at": _local_iso(self.expires_at),
            "utc_issued_at": _utc_iso(self.issued_at),
            "utc_expires_at": _utc_iso(self.expires_at),
            "acl": list(self.acl),
            "metadata": metadata,
            "session_uuid": self.session_uuid,
            "remote_addr": self.remote_addr,
            "user_agent": self.user_agent,
        }


def _utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _local_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).isoformat()


class TokenStore:
    """The tokens wazo-auth knows about; a token is valid while known and not expired."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        # refresh token -> (principal, client_id); one per (user, client_id) as wazo-auth keeps
        self._refresh_tokens: dict[str, tuple[UserConfig | ServiceAccountConfig, str]] = {}

    def now(self) -> float:
        return self._clock()

    def authenticate(self, login: str, password: str) -> UserConfig | ServiceAccountConfig | None:
        """Basic-auth check: username (or email, as wazo-auth accepts confirmed emails)."""
        for user in self.config.users:
            if login in (user.username, user.email) and password == user.password:
                return user
        for account in self.config.service_accounts:
            if login == account.username and password == account.password:
                return account
        return None

    def issue(
        self,
        principal: UserConfig | ServiceAccountConfig,
        expiration: int,
        remote_addr: str = "",
        user_agent: str = "",
    ) -> Token:
        now = self.now()
        is_user = isinstance(principal, UserConfig)
        token = Token(
            token=str(uuid.uuid4()),
            auth_id=principal.uuid,
            pbx_user_uuid=principal.uuid if is_user else None,
            tenant_uuid=principal.tenant_uuid,
            purpose="user" if isinstance(principal, UserConfig) else principal.purpose,
            acl=principal.acl,
            issued_at=now,
            expires_at=now + expiration,
            session_uuid=str(uuid.uuid4()),
            remote_addr=remote_addr,
            user_agent=user_agent,
        )
        self._tokens[token.token] = token
        return token

    def new_refresh_token(self, principal: UserConfig | ServiceAccountConfig, client_id: str) -> str:
        """``access_type: offline``: a new refresh token replaces the old one of this client."""
        for existing, (owner, owner_client) in list(self._refresh_tokens.items()):
            if owner.uuid == principal.uuid and owner_client == client_id:
                del self._refresh_tokens[existing]
        refresh_token = str(uuid.uuid4())
        self._refresh_tokens[refresh_token] = (principal, client_id)
        return refresh_token

    def principal_of_refresh_token(
        self, refresh_token: str, client_id: str
    ) -> UserConfig | ServiceAccountConfig | None:
        entry = self._refresh_tokens.get(refresh_token)
        if entry is None or entry[1] != client_id:
            return None
        return entry[0]

    def get(self, token_id: str | None) -> Token | None:
        """The token if it is still valid (expired tokens are forgotten, as wazo-auth purges them)."""
        if not token_id:
            return None
        token = self._tokens.get(token_id)
        if token is None:
            return None
        if token.expires_at <= self.now():
            del self._tokens[token_id]
            return None
        return token

    def revoke(self, token_id: str) -> Token | None:
        return self._tokens.pop(token_id, None)

    def expire_all(self) -> None:
        """Make every token expire now (the simulator's 'expire all tokens' control)."""
        now = self.now()
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, now)

    def has_session(self, user_uuid: str) -> bool:
        """chatd's ``connected``: the user holds at least one live wazo-auth session."""
        now = self.now()
        return any(t.auth_id == user_uuid and t.expires_at > now for t in self._tokens.values())
