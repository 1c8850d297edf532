"""wazo-auth's token routes (reference wazo-api.md §2.1 to §2.2), under ``/api/auth/0.1``."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aiohttp import web

from wazo_sim.core import core_of
from wazo_sim.http_common import json_response
from wazo_sim.tokens import MAX_EXPIRATION, MIN_EXPIRATION

PREFIX = "/api/auth/0.1"


def auth_error(status: int, reason: str) -> web.Response:
    """wazo-auth's own error shape on these routes (wazo-auth: wazo_auth/http.py ``_error``)."""
    return json_response({"reason": [reason], "timestamp": [time.time()], "status_code": status}, status)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")  # wazo-auth's fallback
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None


def _validate_token_request(body: Any, default_lifetime: int) -> int | str:
    """The expiration to use, or the reason the body is invalid."""
    if not isinstance(body, dict):
        return "Invalid JSON body"
    expiration = body.get("expiration", default_lifetime)
    if isinstance(expiration, bool) or not isinstance(expiration, int):
        return "expiration: Not a valid integer."
    if not MIN_EXPIRATION <= expiration <= MAX_EXPIRATION:
        return f"expiration: Must be between {MIN_EXPIRATION} and {MAX_EXPIRATION}."
    access_type = body.get("access_type", "online")
    if access_type not in ("online", "offline"):
        return "access_type: Must be one of: online, offline."
    client_id = body.get("client_id")
    needs_client = access_type == "offline" or "refresh_token" in body
    if needs_client and not (isinstance(client_id, str) and 1 <= len(client_id) <= 1024):
        return "client_id: Missing data for required field."
    return expiration


async def create_token(request: web.Request) -> web.Response:
    core = core_of(request)
    try:
        body = json.loads(await request.text() or "null")  # wazo-auth reads with force=True
    except json.JSONDecodeError:
        return auth_error(400, "Invalid JSON body")
    if body is None:
        body = {}
    expiration = _validate_token_request(body, core.config.default_token_lifetime)
    if isinstance(expiration, str):
        return auth_error(400, expiration)
    if isinstance(body.get("refresh_token"), str):
        principal = core.tokens.principal_of_refresh_token(body["refresh_token"], body["client_id"])
    else:
        credentials = _basic_credentials(request.headers.get("Authorization"))
        principal = core.tokens.authenticate(*credentials) if credentials else None
    if principal is None:
        return auth_error(401, "Authentication Failed")
    token = core.tokens.issue(
        principal,
        expiration,
        remote_addr=request.remote or "",
        user_agent=request.headers.get("User-Agent", ""),
    )
    data = token.to_dict(core.config.wazo_uuid)
    if body.get("access_type") == "offline":
        data["refresh_token"] = core.tokens.new_refresh_token(principal, body["client_id"])
    core.session_changed(token.pbx_user_uuid)
    return json_response({"data": data}, headers={"Wazo-Sessions-Revoked": "0"})


def _checked_token(request: web.Request) -> tuple[Any, web.Response | None]:
    core = core_of(request)
    token = core.tokens.get(request.match_info["token"])
    if token is None:
        return None, auth_error(404, "No such token")
    scope = request.query.get("scope")
    tenant = request.query.get("tenant")
    if (scope and not token.access.matches(scope)) or (tenant and tenant != token.tenant_uuid):
        return None, auth_error(403, "Unauthorized")
    return token, None


async def get_token(request: web.Request) -> web.Response:
    token, error = _checked_token(request)
    if error is not None:
        return error
    return json_response({"data": token.to_dict(core_of(request).config.wazo_uuid)})


async def head_token(request: web.Request) -> web.Response:
    _token, error = _checked_token(request)
    return web.Response(status=error.status if error is not None else 204)


async def delete_token(request: web.Request) -> web.Response:
    core = core_of(request)
    revoked = core.tokens.revoke(request.match_info["token"])
    if revoked is not None:
        core.session_changed(revoked.pbx_user_uuid)
    return json_response({"data": {"message": "success"}})


def routes() -> list[web.RouteDef]:
    return [
        web.post(f"{PREFIX}/token", create_token),
        web.get(f"{PREFIX}/token/{{token}}", get_token, allow_head=False),
        web.head(f"{PREFIX}/token/{{token}}", head_token),
        web.delete(f"{PREFIX}/token/{{token}}", delete_token),
    ]
