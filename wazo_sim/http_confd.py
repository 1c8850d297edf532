"""wazo-confd's users, lines, extensions, services and forwards (reference wazo-api.md §8),
under ``/api/confd/1.1``. confd errors are JSON lists of strings."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from aiohttp import web

from wazo_sim.config import LineConfig, UserConfig
from wazo_sim.core import SimCore, core_of
from wazo_sim.http_common import ConfdError, authenticate, json_body, json_response, paginate
from wazo_sim.state import FORWARD_NAMES, SERVICE_NAMES
from wazo_sim.tokens import Token

PREFIX = "/api/confd/1.1"
MAX_UUID_FILTER = 20
MAX_FORWARD_DESTINATION = 128


def _not_found(resource: str, **criteria: Any) -> ConfdError:
    shown = ", ".join(f"'{key}': {value!r}" for key, value in criteria.items())
    return ConfdError(404, f"Resource Not Found - {resource} was not found ({shown})")


def _input_error(text: str) -> ConfdError:
    return ConfdError(400, f"Input Error - {text}")


def _user(request: web.Request, token: Token) -> UserConfig:
    key = request.match_info["user_id"]
    user = core_of(request).config.user_by_id_or_uuid(key)
    if user is None or user.tenant_uuid != token.tenant_uuid:
        raise _not_found("User", **({"id": int(key)} if key.isdigit() else {"uuid": key}))
    return user


# ---------------------------------------------------------------- representations


def _line_relation(line: LineConfig) -> dict[str, Any]:
    return {
        "id": line.id,
        "name": line.name,
        "endpoint_sip": {
            "uuid": line.endpoint_uuid,
            "label": line.name,
            "name": line.name,
            "auth_section_options": [["username", line.name]],
        },
        "endpoint_sccp": None,
        "endpoint_custom": None,
        "extensions": [{"id": line.extension_id, "exten": line.exten, "context": line.context}],
    }


def _user_line(line: LineConfig, position: int, user: UserConfig) -> dict[str, Any]:
    relation = _line_relation(line)
    relation |= {
        "context": line.context,
        "position": position,
        "caller_id_name": user.fullname,
        "caller_id_num": line.exten,
    }
    return relation


def _user_full(core: SimCore, user: UserConfig) -> dict[str, Any]:
    services = core.state.services[user.uuid]
    forwards = core.state.forwards[user.uuid]
    return {
        "id": user.id,
        "uuid": user.uuid,
        "tenant_uuid": user.tenant_uuid,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "email": user.email,
        "timezone": None,
        "language": None,
        "description": "",
        "caller_id": f'"{user.fullname}"',
        "outgoing_caller_id": "default",
        "mobile_phone_number": user.mobile_phone_number or None,
        "username": None,  # confd's legacy CTI login, not the wazo-auth username (§8.3)
        "password": None,
        "music_on_hold": None,
        "preprocess_subroutine": None,
        "userfield": "",
        "call_transfer_enabled": False,
        "dtmf_hangup_enabled": False,
        "call_record_enabled": False,
        "online_call_record_enabled": False,
        "supervision_enabled": True,
        "ring_seconds": 30,
        "simultaneous_calls": 5,
        "call_permission_password": None,
        "subscription_type": 0,
        "enabled": True,
        "lines": [_user_line(line, i + 1, user) for i, line in enumerate(user.lines)],
        "forwards": {
            name: {"enabled": f.enabled, "destination": f.destination} for name, f in forwards.items()
        },
        "services": {name: {"enabled": services[name]} for name in SERVICE_NAMES},
        "voicemail": {"id": user.voicemail_id, "name": user.fullname} if user.voicemail_id else None,
        "groups": [],
        "queues": [],
        "switchboards": [],
        "incalls": [],
        "agent": None,
        "fallbacks": {
            "noanswer_destination": None,
            "busy_destination": None,
            "congestion_destination": None,
            "fail_destination": None,
        },
        "call_pickup_target_users": [],
    }


def _user_summary(user: UserConfig) -> dict[str, Any]:
    line = user.main_line
    return {
        "id": user.id,
        "uuid": user.uuid,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "email": user.email,
        "extension": line.exten if line else None,
        "context": line.context if line else None,
        "provisioning_code": None,
        "protocol": "sip" if line else None,
        "enabled": True,
        "subscription_type": 0,
        "is_webrtc": False,
    }


def _user_directory(user: UserConfig) -> dict[str, Any]:
    line = user.main_line
    return {
        "id": user.id,
        "uuid": user.uuid,
        "line_id": line.id if line else None,
        "agent_id": None,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "email": user.email,
        "exten": line.exten if line else None,
        "mobile_phone_number": user.mobile_phone_number or None,
        "voicemail_number": line.exten if user.voicemail_id and line else None,
        "userfield": "",
        "description": "",
        "context": line.context if line else None,
    }


def _user_line_presence(core: SimCore, user: UserConfig) -> dict[str, Any]:
    return {
        "uuid": user.uuid,
        "tenant_uuid": user.tenant_uuid,
        "lines": [{"id": line.id, "name": line.name, "protocol": "sip"} for line in user.lines],
        "services": {"dnd": {"enabled": core.state.services[user.uuid]["dnd"]}},
    }


def _line_view(core: SimCore, user: UserConfig, line: LineConfig, position: int) -> dict[str, Any]:
    view = _user_line(line, position, user)
    view |= {
        "tenant_uuid": user.tenant_uuid,
        "device_id": None,
        "device_slot": None,
        "protocol": "sip",
        "provisioning_extension": None,
        "provisioning_code": None,
        "registrar": "default",
        "is_webrtc": False,
        "application": None,
        "users": [{"uuid": user.uuid, "firstname": user.firstname, "lastname": user.lastname}],
    }
    return view


# ---------------------------------------------------------------- users


def _folded(text: str) -> str:
    """Case- and accent-insensitive form, as confd's ``search`` compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _search_fields(user: UserConfig) -> list[str]:
    line = user.main_line
    return [user.fullname, user.email, user.mobile_phone_number, line.exten if line else ""]


_EXACT_FILTERS: dict[str, Callable[[UserConfig], str | None]] = {
    "email": lambda u: u.email,
    "firstname": lambda u: u.firstname,
    "lastname": lambda u: u.lastname,
    "id": lambda u: str(u.id),
    "context": lambda u: u.main_line.context if u.main_line else None,
}


def _matches(user: UserConfig, request: web.Request) -> bool:
    query = request.query
    search = query.get("search")
    if search and not any(_folded(search) in _folded(field) for field in _search_fields(user)):
        return False
    for name, getter in _EXACT_FILTERS.items():
        if name in query and getter(user) != query[name]:
            return False
    if "exten" in query and user.exten not in query["exten"].split(","):
        return False
    if "mobile_phone_number" in query and user.mobile_phone_number not in query["mobile_phone_number"].split(
        ","
    ):
        return False
    # ``username`` is confd's own (empty) CTI login: it never matches a wazo-auth username.
    return "username" not in query


# Selections kept per users tuple: a client reading everyone asks one query page after page.
MAX_USER_SELECTIONS = 16


def _selected_users(
    core: SimCore, request: web.Request, tenants: set[str], uuids: list[str]
) -> list[UserConfig]:
    """The users a GET /users query selects, in its order, before paging.

    Kept per query (paging aside) while the users stay the same tuple (every confd write makes
    a new one): reading 50,000 users is 100 pages of the same query, and filtering and sorting
    them all again for each page (what confd's indexed query does not do) made the simulator the
    slowest part of a start-up benchmark."""
    users = core.config.users
    kept_for, kept = core.user_selections
    if kept_for is not users:
        kept = {}
        core.user_selections = (users, kept)
    key = (
        frozenset(tenants),
        tuple(uuids),
        tuple(sorted((k, v) for k, v in request.query.items() if k not in ("limit", "offset"))),
    )
    selected = kept.get(key)
    if selected is None:
        selected = [
            u
            for u in users
            if u.tenant_uuid in tenants and (not uuids or u.uuid in uuids) and _matches(u, request)
        ]
        order = request.query.get("order", "firstname")
        reverse = request.query.get("direction", "asc") == "desc"
        if order in ("firstname", "lastname", "email", "id"):
            selected.sort(key=lambda u: getattr(u, order), reverse=reverse)
        if len(kept) >= MAX_USER_SELECTIONS:
            kept.clear()
        kept[key] = selected
    return selected


async def list_users(request: web.Request) -> web.Response:
    core = core_of(request)
    core.confd_check_ready()
    token = authenticate(request, "confd.users.read")
    core.user_list_reads += 1
    view = request.query.get("view")
    if view not in (None, "summary", "directory", "line_presence"):
        raise _input_error("field 'view': Must be one of: directory, summary, line_presence.")
    uuids = [u for u in request.query.get("uuid", "").split(",") if u]
    if len(uuids) > MAX_UUID_FILTER:
        raise _input_error(f"field 'uuid': Longer than maximum length {MAX_UUID_FILTER}.")
    tenants = {token.tenant_uuid}
    if request.query.get("recurse", "false").lower() == "true":
        tenants = core.config.tenant_and_subtenants(token.tenant_uuid)
    selected = _selected_users(core, request, tenants, uuids)
    renderers: dict[str | None, Callable[[UserConfig], dict[str, Any]]] = {
        None: lambda u: _user_full(core, u),
        "summary": _user_summary,
        "directory": _user_directory,
        "line_presence": lambda u: _user_line_presence(core, u),
    }
    render = renderers[view]
    return json_response({"total": len(selected), "items": [render(u) for u in paginate(selected, request)]})


async def get_user(request: web.Request) -> web.Response:
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.read")
    return json_response(_user_full(core_of(request), _user(request, token)))


# ---------------------------------------------------------------- lines and extensions


def _tenant_lines(core: SimCore, token: Token) -> list[tuple[UserConfig, LineConfig, int]]:
    return [
        (user, line, i + 1)
        for user in core.config.users
        if user.tenant_uuid == token.tenant_uuid
        for i, line in enumerate(user.lines)
    ]


async def list_lines(request: web.Request) -> web.Response:
    core = core_of(request)
    token = authenticate(request, "confd.lines.read")
    search = request.query.get("search")
    rows = [
        _line_view(core, user, line, pos)
        for user, line, pos in _tenant_lines(core, token)
        if not search or _folded(search) in _folded(f"{line.name} {line.exten} {line.context}")
    ]
    return json_response({"total": len(rows), "items": paginate(rows, request)})


async def get_line(request: web.Request) -> web.Response:
    core = core_of(request)
    line_id = request.match_info["line_id"]
    token = authenticate(request, f"confd.lines.{line_id}.read")
    for user, line, pos in _tenant_lines(core, token):
        if str(line.id) == line_id:
            return json_response(_line_view(core, user, line, pos))
    raise _not_found("Line", id=int(line_id))


def _extension_view(user: UserConfig, line: LineConfig) -> dict[str, Any]:
    return {
        "id": line.extension_id,
        "exten": line.exten,
        "context": line.context,
        "commented": False,
        "enabled": True,
        "tenant_uuid": user.tenant_uuid,
        "lines": [{"id": line.id, "name": line.name}],
        "conference": None,
        "group": None,
        "incall": None,
        "outcall": None,
        "parking_lot": None,
        "queue": None,
    }


async def list_extensions(request: web.Request) -> web.Response:
    core = core_of(request)
    token = authenticate(request, "confd.extensions.read")
    query = request.query
    if query.get("type", "internal") != "internal":
        rows: list[dict[str, Any]] = []  # the simulator has no incalls
    else:
        rows = [
            _extension_view(user, line)
            for user, line, _ in _tenant_lines(core, token)
            if query.get("exten", line.exten) == line.exten
            and query.get("context", line.context) == line.context
            and (not query.get("search") or _folded(query["search"]) in _folded(line.exten))
        ]
    return json_response({"total": len(rows), "items": paginate(rows, request)})


async def get_extension(request: web.Request) -> web.Response:
    core = core_of(request)
    extension_id = request.match_info["extension_id"]
    token = authenticate(request, f"confd.extensions.{extension_id}.read")
    for user, line, _ in _tenant_lines(core, token):
        if str(line.extension_id) == extension_id:
            return json_response(_extension_view(user, line))
    raise _not_found("Extension", id=int(extension_id))


# ---------------------------------------------------------------- services and forwards


def _strict_bool(body: Any, field: str = "enabled") -> bool:
    if not isinstance(body, dict) or field not in body:
        raise _input_error(f"field '{field}': Missing data for required field.")
    if not isinstance(body[field], bool):
        raise _input_error(f"field '{field}': Not a valid boolean.")
    return bool(body[field])


async def get_services(request: web.Request) -> web.Response:
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.services.read")
    user = _user(request, token)
    services = core_of(request).state.services[user.uuid]
    return json_response({name: {"enabled": services[name]} for name in SERVICE_NAMES})


async def update_services(request: web.Request) -> web.Response:
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.services.update")
    user = _user(request, token)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise _input_error("Invalid input type.")
    wanted = {name: _strict_bool(body[name]) for name in SERVICE_NAMES if name in body}
    core = core_of(request)
    for name, enabled in wanted.items():
        core.publish(core.state.set_service(user.uuid, name, enabled))
    return web.Response(status=204)


def _service_name(request: web.Request) -> str:
    name = request.match_info["service_name"]
    if name not in SERVICE_NAMES:
        raise _not_found("Service", name=name)
    return name


async def get_service(request: web.Request) -> web.Response:
    name = _service_name(request)
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.services.{name}.read")
    user = _user(request, token)
    return json_response({"enabled": core_of(request).state.services[user.uuid][name]})


async def update_service(request: web.Request) -> web.Response:
    name = _service_name(request)
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.services.{name}.update")
    user = _user(request, token)
    enabled = _strict_bool(await json_body(request))
    core = core_of(request)
    core.publish(core.state.set_service(user.uuid, name, enabled))
    return web.Response(status=204)


def _forward_dict(core: SimCore, user: UserConfig, name: str) -> dict[str, Any]:
    forward = core.state.forwards[user.uuid][name]
    return {"enabled": forward.enabled, "destination": forward.destination}


def _forward_name(request: web.Request) -> str:
    name = request.match_info["forward_name"]
    if name not in FORWARD_NAMES:
        raise _not_found("Forward", name=name)
    return name


def _apply_forward(core: SimCore, user: UserConfig, name: str, body: Any) -> None:
    if not isinstance(body, dict):
        raise _input_error("Invalid input type.")
    current = core.state.forwards[user.uuid][name]
    enabled = _strict_bool(body) if "enabled" in body else current.enabled
    destination = body.get("destination", current.destination)
    if destination is not None and not isinstance(destination, str):
        raise _input_error("field 'destination': Not a valid string.")
    if destination is not None and len(destination) > MAX_FORWARD_DESTINATION:
        raise _input_error(f"field 'destination': Longer than maximum length {MAX_FORWARD_DESTINATION}.")
    core.publish(core.state.set_forward(user.uuid, name, enabled, destination or None))


async def get_forwards(request: web.Request) -> web.Response:
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.forwards.read")
    user = _user(request, token)
    core = core_of(request)
    return json_response({name: _forward_dict(core, user, name) for name in FORWARD_NAMES})


async def update_forwards(request: web.Request) -> web.Response:
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.forwards.update")
    user = _user(request, token)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise _input_error("Invalid input type.")
    core = core_of(request)
    for name in FORWARD_NAMES:
        if name in body:
            _apply_forward(core, user, name, body[name])
    return web.Response(status=204)


async def get_forward(request: web.Request) -> web.Response:
    name = _forward_name(request)
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.forwards.{name}.read")
    return json_response(_forward_dict(core_of(request), _user(request, token), name))


async def update_forward(request: web.Request) -> web.Response:
    name = _forward_name(request)
    token = authenticate(request, f"confd.users.{request.match_info['user_id']}.forwards.{name}.update")
    user = _user(request, token)
    _apply_forward(core_of(request), user, name, await json_body(request))
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    user = f"{PREFIX}/users/{{user_id}}"
    return [
        web.get(f"{PREFIX}/users", list_users),
        web.get(user, get_user),
        web.get(f"{user}/services", get_services),
        web.put(f"{user}/services", update_services),
        web.get(f"{user}/services/{{service_name}}", get_service),
        web.put(f"{user}/services/{{service_name}}", update_service),
        web.get(f"{user}/forwards", get_forwards),
        web.put(f"{user}/forwards", update_forwards),
        web.get(f"{user}/forwards/{{forward_name}}", get_forward),
        web.put(f"{user}/forwards/{{forward_name}}", update_forward),
        web.get(f"{PREFIX}/lines", list_lines),
        web.get(f"{PREFIX}/lines/{{line_id:\\d+}}", get_line),
        web.get(f"{PREFIX}/extensions", list_extensions),
        web.get(f"{PREFIX}/extensions/{{extension_id:\\d+}}", get_extension),
    ]
