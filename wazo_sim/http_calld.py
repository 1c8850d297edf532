"""wazo-calld's call and voicemail routes (reference wazo-api.md §7), under ``/api/calld/1.0``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wazo_sim.calls import CallLeg
from wazo_sim.config import UserConfig
from wazo_sim.core import core_of
from wazo_sim.errors import ApiError, invalid_data, no_such_call, unauthorized
from wazo_sim.http_common import acl_word, authenticate, json_object, json_response, paginate
from wazo_sim.state import VOICEMAIL_FOLDERS
from wazo_sim.tokens import Token

PREFIX = "/api/calld/1.0"


def _require_fields(body: dict[str, Any], types: dict[str, type], prefix: str = "") -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for name, expected in types.items():
        if name not in body:
            errors[prefix + name] = ["Missing data for required field."]
        elif isinstance(body[name], bool) != (expected is bool) or not isinstance(body[name], expected):
            errors[prefix + name] = [f"Not a valid {expected.__name__}."]
    return errors


def _optional_types(body: dict[str, Any], types: dict[str, type], prefix: str = "") -> dict[str, Any]:
    present = {name: kind for name, kind in types.items() if name in body and body[name] is not None}
    return _require_fields(body, present, prefix)


def _tenant_leg(request: web.Request, token: Token) -> CallLeg:
    call_id = request.match_info["call_id"]
    leg = core_of(request).state.calls.get(call_id)
    if leg is None or leg.tenant_uuid != token.tenant_uuid:
        raise no_such_call(call_id)
    return leg


def _own_leg(request: web.Request, token: Token) -> CallLeg:
    leg = _tenant_leg(request, token)
    if leg.user_uuid != token.auth_id:
        raise ApiError(
            403, "user-permission-denied", "User does not have permission", {"user": token.auth_id}
        )
    return leg


# ---------------------------------------------------------------- originate


async def create_call(request: web.Request) -> web.Response:
    core = core_of(request)
    token = authenticate(request, "calld.calls.create")
    body = await json_object(request)
    source = body.get("source")
    destination = body.get("destination")
    errors: dict[str, Any] = {}
    if not isinstance(source, dict):
        errors["source"] = ["Missing data for required field."]
    else:
        errors |= _require_fields(source, {"user": str}, "source.")
        errors |= _optional_types(
            source, {"line_id": int, "all_lines": bool, "from_mobile": bool, "auto_answer": bool}, "source."
        )
    if not isinstance(destination, dict):
        errors["destination"] = ["Missing data for required field."]
    else:
        errors |= _require_fields(
            destination, {"extension": str, "context": str, "priority": int}, "destination."
        )
        if isinstance(destination.get("priority"), int) and destination["priority"] < 1:
            errors["destination.priority"] = ["Must be greater than or equal to 1."]
    if errors:
        raise invalid_data(errors)
    assert isinstance(source, dict)
    assert isinstance(destination, dict)
    user = core.config.users_by_uuid.get(source["user"])
    if user is None or user.tenant_uuid != token.tenant_uuid:
        raise ApiError(400, "invalid-user", "Invalid user", {"user_uuid": source["user"]})
    leg, events = core.state.originate(
        user.uuid,
        destination["extension"],
        context=destination["context"],
        line_id=source.get("line_id"),
        auto_answer=bool(source.get("auto_answer")),
        all_lines=bool(source.get("all_lines")),
        from_mobile=bool(source.get("from_mobile")),
    )
    response = leg.to_dict()  # the state right after origination, before events move it on
    core.publish(events)
    return json_response(response, 201)


async def create_my_call(request: web.Request) -> web.Response:
    core = core_of(request)
    token = authenticate(request, "calld.users.me.calls.create")
    body = await json_object(request)
    errors = _require_fields(body, {"extension": str})
    errors |= _optional_types(
        body, {"line_id": int, "all_lines": bool, "from_mobile": bool, "auto_answer_caller": bool}
    )
    if errors:
        raise invalid_data(errors)
    if token.pbx_user_uuid is None:
        raise ApiError(400, "invalid-user", "Invalid user", {"user_uuid": token.auth_id})
    leg, events = core.state.originate(
        token.pbx_user_uuid,
        body["extension"],
        line_id=body.get("line_id"),
        auto_answer=bool(body.get("auto_answer_caller")),
        all_lines=bool(body.get("all_lines")),
        from_mobile=bool(body.get("from_mobile")),
    )
    response = leg.to_dict()
    core.publish(events)
    return json_response(response, 201)


# ---------------------------------------------------------------- listing and control


async def list_calls(request: web.Request) -> web.Response:
    token = authenticate(request, "calld.calls.read")
    core = core_of(request)
    items = [leg.to_dict() for leg in core.state.calls.values() if leg.tenant_uuid == token.tenant_uuid]
    if core.take_malformed("calld"):
        # A fault for tests: a call whose owner is known but whose status is missing.
        items.insert(0, {"call_id": "malformed.1", "user_uuid": core.config.users[0].uuid, "status": None})
    return json_response({"items": items})


async def list_my_calls(request: web.Request) -> web.Response:
    token = authenticate(request, "calld.users.me.calls.read")
    legs = core_of(request).state.calls_of(token.auth_id)
    return json_response({"items": [leg.to_dict() for leg in legs]})


async def get_call(request: web.Request) -> web.Response:
    token = authenticate(request, f"calld.calls.{acl_word(request.match_info['call_id'])}.read")
    return json_response(_tenant_leg(request, token).to_dict())


async def hangup_call(request: web.Request) -> web.Response:
    token = authenticate(request, f"calld.calls.{acl_word(request.match_info['call_id'])}.delete")
    core = core_of(request)
    core.publish(core.state.hangup(_tenant_leg(request, token).call_id))
    return web.Response(status=204)


async def hangup_my_call(request: web.Request) -> web.Response:
    token = authenticate(request, f"calld.users.me.calls.{acl_word(request.match_info['call_id'])}.delete")
    core = core_of(request)
    core.publish(core.state.hangup(_own_leg(request, token).call_id))
    return web.Response(status=204)


def _call_action(acl_suffix: str, action: str, own: bool) -> Any:
    async def handler(request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        scope = "calld.users.me.calls" if own else "calld.calls"
        token = authenticate(request, f"{scope}.{acl_word(call_id)}.{acl_suffix}")
        leg = _own_leg(request, token) if own else _tenant_leg(request, token)
        state = core_of(request).state
        if action == "answer":
            events = state.answer(leg.call_id)
        else:
            events = state.hold(leg.call_id, on_hold=action == "hold")
        core_of(request).publish(events)
        return web.Response(status=204)

    return handler


# ---------------------------------------------------------------- voicemail


def _sorted_messages(request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = request.query.get("order", "timestamp")
    direction = request.query.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise invalid_data({"direction": ["Must be one of: asc, desc."]})
    if items and order not in items[0]:
        raise invalid_data({"order": [f"Unknown field: {order}"]})
    return sorted(
        items, key=lambda item: (item.get(order) is None, item.get(order)), reverse=direction == "desc"
    )


async def my_voicemail_messages(request: web.Request) -> web.Response:
    token = authenticate(request, "calld.users.me.voicemails.messages.read")
    core = core_of(request)
    if token.pbx_user_uuid is None:
        raise ApiError(404, "no-such-user", "No such user", {"user_uuid": token.auth_id})
    if request.query.get("voicemail_type", "all") == "global":
        items: list[dict[str, Any]] = []
    else:
        items = core.state.voicemail_messages(token.pbx_user_uuid)
    items = _sorted_messages(request, items)
    return json_response({"items": paginate(items, request), "total": len(items)})


async def tenant_voicemail_messages(request: web.Request) -> web.Response:
    token = authenticate(request, "calld.voicemails.messages.read")
    core = core_of(request)
    everyone = [u for u in core.config.users if u.tenant_uuid == token.tenant_uuid]
    total = sum(len(core.state.voicemail_messages(u.uuid)) for u in everyone)
    wanted_user = request.query.get("user_uuid")
    wanted_box = request.query.get("voicemail_id")
    items = []
    for user in everyone:
        if wanted_user and user.uuid != wanted_user:
            continue
        if wanted_box and str(user.voicemail_id) != wanted_box:
            continue
        for message in core.state.voicemail_messages(user.uuid):
            admin_view = {k: v for k, v in message.items() if k != "transcription"}
            admin_view["transcribed"] = message["transcription"] is not None
            items.append(admin_view)
    items = _sorted_messages(request, items)
    return json_response({"items": paginate(items, request), "total": total, "filtered": len(items)})


# One message of a mailbox: as an administrator by mailbox id (/voicemails/{voicemail_id}/...),
# or as the user for their own mailbox (/users/me/voicemails/...). Same rules, two ACL prefixes.


def _box_owner(request: web.Request, token: Token) -> UserConfig:
    state = core_of(request).state
    if "voicemail_id" in request.match_info:
        return state.mailbox_owner(int(request.match_info["voicemail_id"]), token.tenant_uuid)
    user = core_of(request).config.users_by_uuid.get(token.pbx_user_uuid or "")
    if user is None or user.voicemail_id is None:
        raise ApiError(404, "no-such-voicemail", "No such voicemail", {"user_uuid": token.auth_id})
    return user


def _message_acl(request: web.Request, action: str) -> str:
    message = acl_word(request.match_info["message_id"])
    if "voicemail_id" in request.match_info:
        return f"calld.voicemails.{request.match_info['voicemail_id']}.messages.{message}.{action}"
    return f"calld.users.me.voicemails.messages.{message}.{action}"


def _voicemail_token(request: web.Request, required_acl: str) -> Token:
    """The header token, or ``?token=`` (the recording routes' TokenID parameter: a browser's
    <audio src> cannot send headers)."""
    query_token = request.query.get("token")
    if query_token and "X-Auth-Token" not in request.headers:
        core = core_of(request)
        token = core.tokens.get(query_token)
        if token is None or not token.access.matches(required_acl):
            raise unauthorized()
        return token
    return authenticate(request, required_acl)


async def get_voicemail(request: web.Request) -> web.Response:
    if "voicemail_id" in request.match_info:
        token = authenticate(request, f"calld.voicemails.{request.match_info['voicemail_id']}.read")
    else:
        token = authenticate(request, "calld.users.me.voicemails.read")
    owner = _box_owner(request, token)
    assert owner.voicemail_id is not None
    messages = core_of(request).state.voicemail_messages(owner.uuid)
    folders = [
        {**folder, "messages": [m for m in messages if m["folder"]["id"] == folder["id"]]}
        for folder in VOICEMAIL_FOLDERS
    ]
    return json_response(
        {
            "id": owner.voicemail_id,
            "number": owner.exten,
            "name": owner.fullname,
            "accesstype": "personal",
            "folders": folders,
        }
    )


async def get_voicemail_message(request: web.Request) -> web.Response:
    token = authenticate(request, _message_acl(request, "read"))
    owner = _box_owner(request, token)
    assert owner.voicemail_id is not None
    message = core_of(request).state.voicemail_message(owner.uuid, request.match_info["message_id"])
    return json_response(message.to_dict(owner.voicemail_id, owner.fullname))


async def update_voicemail_message(request: web.Request) -> web.Response:
    token = authenticate(request, _message_acl(request, "update"))
    body = await json_object(request)
    errors = _require_fields(body, {"folder_id": int})
    if errors:
        raise invalid_data(errors)
    owner = _box_owner(request, token)
    core = core_of(request)
    message_id = request.match_info["message_id"]
    core.publish(core.state.move_voicemail_message(owner.uuid, message_id, body["folder_id"]))
    return web.Response(status=204)


async def delete_voicemail_message(request: web.Request) -> web.Response:
    token = authenticate(request, _message_acl(request, "delete"))
    owner = _box_owner(request, token)
    core = core_of(request)
    core.publish(core.state.delete_voicemail_message(owner.uuid, request.match_info["message_id"]))
    return web.Response(status=204)


async def get_voicemail_recording(request: web.Request) -> web.Response:
    token = _voicemail_token(request, _message_acl(request, "recording.read"))
    owner = _box_owner(request, token)
    message = core_of(request).state.voicemail_message(owner.uuid, request.match_info["message_id"])
    headers = {}
    if request.query.get("download") == "1":
        headers["Content-Disposition"] = f'attachment; filename="{message.id}.wav"'
    return web.Response(body=message.recording, content_type="audio/wav", headers=headers)


def routes() -> list[web.RouteDef]:
    calls = f"{PREFIX}/calls/{{call_id}}"
    mine = f"{PREFIX}/users/me/calls/{{call_id}}"
    return [
        web.get(f"{PREFIX}/calls", list_calls),
        web.post(f"{PREFIX}/calls", create_call),
        web.get(calls, get_call),
        web.delete(calls, hangup_call),
        web.put(f"{calls}/answer", _call_action("answer.update", "answer", own=False)),
        web.put(f"{calls}/hold/start", _call_action("hold.start.update", "hold", own=False)),
        web.put(f"{calls}/hold/stop", _call_action("hold.stop.update", "resume", own=False)),
        web.get(f"{PREFIX}/users/me/calls", list_my_calls),
        web.post(f"{PREFIX}/users/me/calls", create_my_call),
        web.delete(mine, hangup_my_call),
        web.put(f"{mine}/answer", _call_action("answer.update", "answer", own=True)),
        web.put(f"{mine}/hold/start", _call_action("hold.start.update", "hold", own=True)),
        web.put(f"{mine}/hold/stop", _call_action("hold.stop.update", "resume", own=True)),
        web.get(f"{PREFIX}/users/me/voicemails/messages", my_voicemail_messages),
        web.get(f"{PREFIX}/voicemails/messages", tenant_voicemail_messages),
        *_voicemail_routes(f"{PREFIX}/voicemails/{{voicemail_id:\\d+}}"),
        *_voicemail_routes(f"{PREFIX}/users/me/voicemails"),
    ]


def _voicemail_routes(box: str) -> list[web.RouteDef]:
    message = f"{box}/messages/{{message_id}}"
    return [
        web.get(box, get_voicemail),
        web.get(message, get_voicemail_message),
        web.put(message, update_voicemail_message),
        web.delete(message, delete_voicemail_message),
        web.get(f"{message}/recording", get_voicemail_recording),
    ]
