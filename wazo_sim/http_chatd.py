"""wazo-chatd's presence routes (reference wazo-api.md §5.1), under ``/api/chatd/1.0``."""

from __future__ import annotations

from aiohttp import web

from wazo_sim.core import core_of
from wazo_sim.errors import ApiError, invalid_data
from wazo_sim.http_common import authenticate, json_object, json_response
from wazo_sim.state import PRESENCE_STATES

PREFIX = "/api/chatd/1.0"
# chatd's route is ``<uuid:user_uuid>``: anything else is a plain 404.
UUID_PATTERN = "{user_uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}}"


def _unknown_user(user_uuid: str) -> ApiError:
    return ApiError(404, "unknown-user", "No such user", {"uuid": user_uuid}, resource="users")


def _tenant_user(request: web.Request, tenant_uuid: str) -> str:
    user_uuid = request.match_info["user_uuid"].lower()
    user = core_of(request).config.users_by_uuid.get(user_uuid)
    if user is None or user.tenant_uuid != tenant_uuid:
        raise _unknown_user(user_uuid)
    return user_uuid


async def list_presences(request: web.Request) -> web.Response:
    core = core_of(request)
    core.chatd_check_ready()
    token = authenticate(request, "chatd.users.presences.read")
    tenant_users = [u.uuid for u in core.config.users if u.tenant_uuid == token.tenant_uuid]
    wanted = [u for u in request.query.get("user_uuid", "").split(",") if u]
    for user_uuid in wanted:
        if user_uuid not in tenant_users:
            raise _unknown_user(user_uuid)
    selected = [u for u in tenant_users if not wanted or u in wanted]
    items = [core.state.presence(u) for u in selected]
    if core.take_malformed("chatd"):
        # A fault for tests: a presence whose line state is not chatd's vocabulary.
        items.insert(0, {**core.state.presence(selected[0]), "line_state": "on-a-boat"} if selected else {})
    return json_response({"items": items, "filtered": len(items), "total": len(tenant_users)})


async def get_presence(request: web.Request) -> web.Response:
    core = core_of(request)
    core.chatd_check_ready()
    token = authenticate(request, f"chatd.users.{request.match_info['user_uuid']}.presences.read")
    return json_response(core.state.presence(_tenant_user(request, token.tenant_uuid)))


async def update_presence(request: web.Request) -> web.Response:
    core = core_of(request)
    core.chatd_check_ready()
    token = authenticate(request, f"chatd.users.{request.match_info['user_uuid']}.presences.update")
    user_uuid = _tenant_user(request, token.tenant_uuid)
    body = await json_object(request)
    # Only state (required) and status are writable; read-only keys are silently ignored (§5.1).
    state = body.get("state")
    if state not in PRESENCE_STATES:
        message = (
            "Missing data for required field."
            if "state" not in body
            else "Must be one of: " + ", ".join(PRESENCE_STATES)
        )
        raise invalid_data({"state": {"message": message, "constraint_id": "enum", "constraint": {}}})
    status = body.get("status")
    if status is not None and not isinstance(status, str):
        raise invalid_data({"status": {"message": "Not a valid string.", "constraint_id": "type"}})
    core.publish(core.state.set_presence(user_uuid, state, status, keep_status="status" not in body))
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{PREFIX}/users/presences", list_presences),
        web.get(f"{PREFIX}/users/{UUID_PATTERN}/presences", get_presence),
        web.put(f"{PREFIX}/users/{UUID_PATTERN}/presences", update_presence),
    ]
