"""One REST call to a Wazo service, with every failure turned into a :class:`WazoError`.

Shared by the auth, calld, chatd and confd clients so that error handling, logging, the tenant
header and the re-authentication on 401 are written once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from presence.sources.http1 import Http1Client, Origin, ReplyError, request_bytes, split_url
from presence.sources.wazo.config import Secret, WazoSettings
from presence.sources.wazo.errors import WazoError, WazoShapeError, untrusted_certificate

_T = TypeVar("_T")

log = logging.getLogger("presence.sources.wazo.http")

# Returns a valid service token; called again with the rejected token after a 401.
TokenSource = Callable[[Secret | None], Awaitable[Secret]]

_MAX_MESSAGE = 200
# confd's user list of a large tenant in one page is tens of MB; a reply over this is no answer.
_MAX_BODY = 256 * 1024 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# What may stay unescaped in a path (RFC 3986 pchar and "/"); "%" keeps escapes already made.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def _error_from_body(status: int, body: Any, reason: str) -> tuple[str, str]:
    """(error_id, message) from a Wazo error body (§1.3), or from wazo-auth's ``reason`` shape."""
    error_id = f"http-{status}"
    message = reason or "error"
    if isinstance(body, Mapping):
        if isinstance(body.get("error_id"), str):
            error_id = body["error_id"]
        if isinstance(body.get("message"), str):
            message = body["message"]
        elif isinstance(body.get("reason"), list) and body["reason"]:
            message = str(body["reason"][0])
    elif status == 401:
        error_id = "unauthorized"
    return error_id, message[:_MAX_MESSAGE]


class WazoHttp:
    """Sends REST requests to Wazo services on the small HTTP/1.1 client (:mod:`..http1`, which
    says why not aiohttp: click-to-call's origination is one of these), and opens streamed
    downloads (recordings) on the shared :class:`aiohttp.ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: WazoSettings,
        service_token: TokenSource | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._service_token = service_token
        # Every request in flight may leave its connection for the next: 50 users clicking at
        # once through 8 kept connections opened a new one for a request in three.
        self._client = Http1Client(settings.tls(), max_body=_MAX_BODY, idle_per_origin=100)
        self._origins: dict[str, tuple[Origin, str]] = {}  # base URL -> (origin, base path)

    @property
    def settings(self) -> WazoSettings:
        return self._settings

    def set_token_source(self, service_token: TokenSource) -> None:
        self._service_token = service_token

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        expect: Collection[int] = (200,),
        basic_auth: tuple[str, Secret] | None = None,
        headers: Mapping[str, str] | None = None,
        log_failure: bool = True,
    ) -> Any:
        """Call ``{service base}{path}``; return the decoded JSON body (``None`` for 204).

        ``service`` is one of ``auth``, ``calld``, ``chatd``, ``confd``. Without ``basic_auth``
        (username, password) the service account's token is used, and a
        401 gets one retry with a freshly created token. Raises :class:`WazoError` on any
        failure, after logging it unless ``log_failure`` is False (for callers that log their
        own, richer line).
        """
        endpoint = f"{service} {method} {path}"
        use_service_token = basic_auth is None
        token: Secret | None = None
        for attempt in (1, 2):
            if use_service_token:
                if self._service_token is None:
                    raise RuntimeError("WazoHttp has no service token source")
                token = await self._service_token(None if attempt == 1 else token)
            try:
                return await self._once(
                    endpoint,
                    service,
                    method,
                    path,
                    json_body=json_body,
                    params=params,
                    expect=expect,
                    token=token,
                    basic_auth=basic_auth,
                    headers=headers,
                )
            except WazoError as error:
                if error.status == 401 and use_service_token and attempt == 1:
                    log.info("Wazo %s: token refused (401), creating a new one and retrying", endpoint)
                    continue
                if log_failure:
                    log.warning("Wazo request failed: %s", error)
                raise
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def open_stream(
        self, service: str, path: str, *, accept: str = "*/*"
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``path`` with the service token and yield the open response, unread: the caller
        reads the body chunk by chunk (a recording is never held whole). A status other than 200
        (after one retry on 401, as :meth:`request`) or a transport failure is a WazoError."""
        endpoint = f"{service} GET {path}"
        if self._service_token is None:
            raise RuntimeError("WazoHttp has no service token source")
        settings = self._settings
        # No total time limit: a long recording may take a while; each read has one.
        timeout = aiohttp.ClientTimeout(
            sock_connect=settings.request_timeout_s, sock_read=settings.request_timeout_s
        )
        token: Secret | None = None
        for attempt in (1, 2):
            token = await self._service_token(None if attempt == 1 else token)
            headers = {"Accept": accept, "X-Auth-Token": token.reveal()}
            if settings.tenant_uuid:
                headers["Wazo-Tenant"] = settings.tenant_uuid
            try:
                response = await self._session.get(
                    getattr(settings, service) + path, headers=headers, timeout=timeout, ssl=settings.tls()
                )
            except TimeoutError:
                raise WazoError(endpoint, None, "timeout", "no answer in time") from None
            except aiohttp.ClientError as exc:
                raise WazoError(endpoint, None, "connection-failed", type(exc).__name__) from None
            try:
                if response.status == 401 and attempt == 1:
                    continue
                if response.status != 200:
                    text = (await response.read()).decode("utf-8", errors="replace")
                    try:
                        body = json.loads(text) if text.strip() else None
                    except ValueError:
                        body = None
                    error_id, message = _error_from_body(response.status, body, response.reason or "")
                    error = WazoError(endpoint, response.status, error_id, message)
                    log.warning("Wazo request failed: %s", error)
                    raise error
                yield response
                return
            finally:
                response.release()
        raise AssertionError("unreachable")

    async def request_parsed(
        self,
        parse: Callable[[Any], _T],
        service: str,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> _T:
        """:meth:`request`, then ``parse(body)``; a body of the wrong shape becomes a WazoError."""
        body = await self.request(service, method, path, **kwargs)
        try:
            return parse(body)
        except WazoShapeError as exc:
            error = WazoError(f"{service} {method} {path}", 200, "unexpected-shape", str(exc))
            log.warning("Wazo request failed: %s", error)
            raise error from None

    def _where(self, service: str) -> tuple[Origin, str]:
        """(origin, base path) of a service's base URL, split once per URL."""
        base_url: str = getattr(self._settings, service)
        where = self._origins.get(base_url)
        if where is None:
            origin, _target = split_url(base_url)
            where = self._origins[base_url] = (origin, urlsplit(base_url).path)
        return where

    async def _once(
        self,
        endpoint: str,
        service: str,
        method: str,
        path: str,
        *,
        json_body: Any,
        params: Mapping[str, str] | None,
        expect: Collection[int],
        token: Secret | None,
        basic_auth: tuple[str, Secret] | None,
        headers: Mapping[str, str] | None,
    ) -> Any:
        settings = self._settings
        try:
            origin, base_path = self._where(service)
        except ValueError as exc:  # not an http(s) URL (the configuration's check says so first)
            raise WazoError(endpoint, None, "client-error", str(exc)[:_MAX_MESSAGE]) from None
        target = base_path + quote(path, safe=_PATH_SAFE)
        if params:
            target += "?" + urlencode(params)
        all_headers = {"Accept": "application/json", "User-Agent": "phonepresence", **(headers or {})}
        if token is not None:
            all_headers["X-Auth-Token"] = token.reveal()
        if basic_auth is not None:
            username, password = basic_auth
            credentials = f"{username}:{password.reveal()}".encode()
            all_headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        if settings.tenant_uuid and service != "auth":
            all_headers["Wazo-Tenant"] = settings.tenant_uuid
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            request = request_bytes(method, origin, target, all_headers.items(), body)
        except ValueError as exc:  # a line break or a non-Latin-1 character in a header
            raise WazoError(endpoint, None, "client-error", str(exc)[:_MAX_MESSAGE]) from None
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                reply = await self._client.send(origin, request, idempotent=method in _IDEMPOTENT)
        except TimeoutError:  # first: it is an OSError too
            raise WazoError(
                endpoint, None, "timeout", f"no answer within {settings.request_timeout_s:g} s"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            detail = (exc.verify_message or str(exc))[:_MAX_MESSAGE]
            raise WazoError(endpoint, None, "tls-untrusted", untrusted_certificate(detail)) from None
        except OSError as exc:
            # The text names the host and port only; the token travels in a header, never the URL.
            detail = f"{origin.host_header}: {exc.strerror or exc or type(exc).__name__}"[:_MAX_MESSAGE]
            raise WazoError(endpoint, None, "connection-failed", detail) from None
        except asyncio.IncompleteReadError:
            raise WazoError(
                endpoint, None, "connection-failed", "the connection closed before the reply was complete"
            ) from None
        except ReplyError as exc:
            raise WazoError(endpoint, None, "bad-reply", str(exc)[:_MAX_MESSAGE]) from None
        # Decoded here, leniently: a wrong charset must end as "malformed-json", not as a
        # UnicodeDecodeError escaping the promise that every failure is a WazoError.
        text = reply.body.decode("utf-8", errors="replace")
        status = reply.status
        body_value: Any = None
        body_ok = True
        if text.strip():
            try:
                body_value = json.loads(text)
            except ValueError:
                body_ok = False
        if status not in expect:
            error_id, message = _error_from_body(status, body_value, reply.reason)
            raise WazoError(endpoint, status, error_id, message)
        if not body_ok:
            raise WazoError(endpoint, status, "malformed-json", "response body is not JSON")
        return body_value

    async def close(self) -> None:
        """Close the kept connections (the aiohttp session is its owner's to close)."""
        await self._client.close()
