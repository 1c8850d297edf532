"""The service account's wazo-auth token: created at start, renewed before expiry, re-created on 401.

Wazo's own daemons renew their service token at 80-85 % of its lifetime (reference wazo-api.md
§2.3); the websocket client subscribes to renewals to pass the new token with the ``token`` op.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from presence.backoff import Backoff
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError, WazoShapeError
from presence.sources.wazo.http import WazoHttp

log = logging.getLogger("presence.sources.wazo.auth")

TokenListener = Callable[[Secret], Awaitable[None] | None]
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class ServiceToken:
    value: Secret
    lifetime_s: float
    obtained_at: float  # monotonic clock


def parse_token_response(body: Any, requested_lifetime_s: float) -> tuple[Secret, float]:
    """``POST /0.1/token`` body → (token, lifetime in seconds).

    The lifetime comes from ``utc_expires_at - utc_issued_at`` (both UTC, same clock, so no skew
    with ours); if those are absent or odd the requested expiration is used.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise WazoShapeError("wazo-auth token", "data", "is missing or not an object")
    data = body["data"]
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise WazoShapeError("wazo-auth token", "data.token", "is missing or not a string")
    lifetime = requested_lifetime_s
    try:
        issued = datetime.strptime(data["utc_issued_at"], _UTC_FORMAT)
        expires = datetime.strptime(data["utc_expires_at"], _UTC_FORMAT)
        if expires > issued:
            lifetime = (expires - issued).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    return Secret(token), lifetime


class TokenKeeper:
    """Keeps a valid service token and tells subscribers about each new one."""

    def __init__(
        self,
        http: WazoHttp,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self._http = http
        self._settings: WazoSettings = http.settings
        self._clock = clock
        self._backoff = backoff or Backoff(
            self._settings.reconnect_initial_delay_s, self._settings.reconnect_max_delay_s
        )
        self._current: ServiceToken | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[TokenListener] = []
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False
        self.tokens_created = 0
        http.set_token_source(self.token_for_request)

    # --- public API ------------------------------------------------------------------------

    def subscribe(self, listener: TokenListener) -> None:
        """Call ``listener(new_token)`` after each renewal or re-creation (not the first token)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Obtain the first token (retrying until wazo-auth answers), then renew in background."""
        await self.token()
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever(), name="wazo-token-renewer")

    async def close(self) -> None:
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None

    async def token(self) -> Secret:
        """A token believed valid: the current one, or a new one if none or expired."""
        current = self._current
        if current is not None and not self._expired(current):
            return current.value
        return await self._replace(current)

    async def token_for_request(self, rejected: Secret | None) -> Secret:
        """Token source for :class:`WazoHttp`: ``rejected`` is the token a service answered 401 to."""
        if rejected is None:
            return await self.token()
        current = self._current
        if current is not None and current.value != rejected:
            return current.value  # someone already replaced it
        log.info("Wazo refused the service token (401); creating a new one")
        return await self._replace(current)

    @property
    def renew_delay_s(self) -> float:
        """Seconds from obtaining a token to renewing it."""
        lifetime = self._current.lifetime_s if self._current else self._settings.token_expiration_s
        return lifetime * self._settings.token_renew_fraction

    # --- internals -------------------------------------------------------------------------

    def _expired(self, token: ServiceToken) -> bool:
        return self._clock() >= token.obtained_at + token.lifetime_s

    async def _replace(self, stale: ServiceToken | None) -> Secret:
        """Create a new token unless another coroutine did while we waited for the lock."""
        async with self._lock:
            if self._current is not stale and self._current is not None:
                return self._current.value
            had_token = self._current is not None
            self._current = await self._create_with_retries()
            self.tokens_created += 1
            if had_token:
                await self._notify(self._current.value)
            return self._current.value

    async def _create_with_retries(self) -> ServiceToken:
        while True:
            try:
                token = await self._create_once()
            except WazoError as error:
                if error.error_id == "tls-untrusted":
                    hint = "the message says how to trust it"
                elif error.status in (400, 401, 403):
                    # Wrong credentials do not fix themselves quickly, but an operator may fix
                    # them without restarting us: keep trying, slowly, and say so clearly.
                    hint = "check the service account's username and password"
                else:
                    hint = "wazo-auth is down or unreachable"
                delay = self._backoff.next_delay()
                log.error(
                    "Cannot get a Wazo service token (attempt %d: %s); %s; retrying in %.1f s",
                    self._backoff.attempts,
                    error,
                    hint,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if self._backoff.attempts:
                log.info("Got a Wazo service token after %d failed attempts", self._backoff.attempts)
            self._backoff.reset()
            return token

    async def _create_once(self) -> ServiceToken:
        settings = self._settings
        body = await self._http.request(
            "auth",
            "POST",
            "/token",
            json_body={"expiration": settings.token_expiration_s},
            basic_auth=(settings.username, settings.password),
            log_failure=False,
        )
        try:
            value, lifetime = parse_token_response(body, settings.token_expiration_s)
        except WazoShapeError as exc:
            raise WazoError("auth POST /token", 200, "unexpected-shape", str(exc)) from None
        return ServiceToken(value=value, lifetime_s=lifetime, obtained_at=self._clock())

    async def _notify(self, token: Secret) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(token)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("A Wazo token listener failed")

    async def _renew_forever(self) -> None:
        while not self._closed:
            current = self._current
            if current is None:
                await self.token()
                continue
            due = current.obtained_at + current.lifetime_s * self._settings.token_renew_fraction
            await asyncio.sleep(max(0.0, due - self._clock()))
            if self._current is current:
                log.debug("Renewing the Wazo service token")
                await self._replace(current)
