"""Pieces shared by the simulated REST services: authentication, JSON bodies, error rendering."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wazo_sim.core import core_of
from wazo_sim.errors import ApiError, invalid_data, unauthorized
from wazo_sim.tokens import Token

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConfdError(ApiError):
    """wazo-confd renders errors as a JSON list of strings (wazo-confd base.yml ``Error``)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, "confd-error", text)

    def render(self) -> Any:
        return [self.message]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConfdError as error:
        return json_response(error.render(), error.status)
    except ApiError as error:
        log.info("%s %s -> %s %s", request.method, request.path, error.status, error.error_id)
        return json_response(error.body(), error.status)


def acl_word(value: str) -> str:
    """A path parameter as it appears in a required ACL: xivo-lib-python's ``required_acl``
    replaces dots by underscores, so call id ``1455123422.8`` gives ``calld.calls.1455123422_8.read``."""
    return value.replace(".", "_")


def authenticate(request: web.Request, required_acl: str | None) -> Token:
    """Check ``X-Auth-Token`` (and ``Wazo-Tenant``) as xivo-lib-python does (§1.2).

    Bad/absent token and missing ACL are both 401 ``unauthorized``.
    """
    core = core_of(request)
    token = core.tokens.get(request.headers.get("X-Auth-Token"))
    if token is None or not token.access.matches(required_acl):
        raise unauthorized()
    tenant = request.headers.get("Wazo-Tenant")
    if tenant is not None and tenant != token.tenant_uuid:
        if tenant not in core.config.tenant_and_subtenants(token.tenant_uuid):
            raise ApiError(401, "unauthorized-tenant", f"Unauthorized tenant: {tenant}")
        return dataclasses.replace(token, tenant_uuid=tenant)  # acts in the sub-tenant (§1.2)
    return token


async def json_body(request: web.Request) -> Any:
    """The request's JSON document; anything unparsable is invalid data."""
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_data({"_schema": ["Invalid JSON input."]}) from None


async def json_object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid_data({"_schema": ["Invalid input type."]})
    return body


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_data({name: ["Not a valid integer."]}) from None
    if value < 0:
        raise invalid_data({name: ["Must be greater than or equal to 0."]})
    return value


def paginate(items: list[Any], request: web.Request) -> list[Any]:
    offset = query_int(request, "offset", 0) or 0
    limit = query_int(request, "limit")
    return items[offset : offset + limit if limit is not None else None]
