"""Connection settings for one Wazo stack, independent of how the project's TOML spells them."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field
from typing import Final

# Public prefixes of a Wazo stack behind its nginx (reference wazo-api.md §1.1).
AUTH_PREFIX: Final = "/api/auth/0.1"
CALLD_PREFIX: Final = "/api/calld/1.0"
CHATD_PREFIX: Final = "/api/chatd/1.0"
CONFD_PREFIX: Final = "/api/confd/1.1"
WEBSOCKETD_PREFIX: Final = "/api/websocketd/"


class Secret:
    """A string that never shows itself in logs, reprs or exception messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value; call it only where the value is sent to the server."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@functools.lru_cache(maxsize=4)
def ca_context(ca_file: str) -> ssl.SSLContext:
    """A verifying client context that trusts only ``ca_file`` (built once: loading costs)."""
    return ssl.create_default_context(cafile=ca_file)


def _join(base: str, prefix: str) -> str:
    return base.rstrip("/") + prefix


@dataclass(frozen=True, slots=True)
class WazoSettings:
    """Where and how to reach Wazo as the service account.

    By default every service is reached through ``base_url`` with Wazo's standard nginx prefixes;
    each ``*_url`` overrides one service (e.g. a daemon's own port, ``http://127.0.0.1:9500/1.0``).
    """

    base_url: str
    username: str
    password: Secret = field(repr=False)
    tenant_uuid: str | None = None
    verify_tls: bool = True
    # PEM file of the CA (or the self-signed certificate) to verify Wazo's certificate against,
    # instead of the system's trust store; used for REST and the websocket alike.
    ca_file: str | None = None
    # Wazo's own daemons use 6 h service tokens (xivo-lib-python token_renewer).
    token_expiration_s: int = 6 * 3600
    # Renew at this fraction of the lifetime: Wazo daemons use 0.80 / 0.85.
    token_renew_fraction: float = 0.8
    request_timeout_s: float = 10.0
    auth_url: str | None = None
    calld_url: str | None = None
    chatd_url: str | None = None
    confd_url: str | None = None
    websocketd_url: str | None = None
    # App-level ping keepalive; nginx cuts idle websockets after 90 s (proxy_read_timeout).
    ws_ping_interval_s: float = 30.0
    reconnect_initial_delay_s: float = 0.5
    reconnect_max_delay_s: float = 30.0
    # calld's list of calls is read again this often on a live stream: a lost call_ended must
    # not keep someone "on the phone" for days. 0 turns it off.
    calls_reconcile_interval_s: float = 300.0
    # Events held back while a resynchronisation reads chatd and calld; past this many the
    # stream is dropped and resynchronised again (a slow Wazo must not make us hoard memory).
    max_held_back_events: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.token_expiration_s <= 315360000:
            raise ValueError("token_expiration_s must be within 1..315360000 (wazo-auth limits)")
        if not 0.1 <= self.token_renew_fraction < 1.0:
            raise ValueError("token_renew_fraction must be within 0.1..1.0")
        if self.request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be positive")

    def tls(self) -> ssl.SSLContext | bool:
        """aiohttp's ``ssl`` argument: the CA file's context, else verify (True) or not (False)."""
        if self.ca_file:
            return ca_context(self.ca_file)
        return self.verify_tls

    @property
    def auth(self) -> str:
        return self.auth_url or _join(self.base_url, AUTH_PREFIX)

    @property
    def calld(self) -> str:
        return self.calld_url or _join(self.base_url, CALLD_PREFIX)

    @property
    def chatd(self) -> str:
        return self.chatd_url or _join(self.base_url, CHATD_PREFIX)

    @property
    def confd(self) -> str:
        return self.confd_url or _join(self.base_url, CONFD_PREFIX)

    @property
    def websocketd(self) -> str:
        """The websocket URL (``ws``/``wss`` derived from the base URL's scheme)."""
        if self.websocketd_url:
            return self.websocketd_url
        url = _join(self.base_url, WEBSOCKETD_PREFIX)
        if url.startswith("https://"):
            return "wss://" + url[len("https://") :]
        if url.startswith("http://"):
            return "ws://" + url[len("http://") :]
        return url
