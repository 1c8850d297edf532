"""The simulator's private control API under ``/_sim/`` (JSON), mirroring :class:`SimControl`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wazo_sim.control import SimControl
from wazo_sim.core import CORE_KEY
from wazo_sim.errors import invalid_data
from wazo_sim.http_common import json_body, json_response

PREFIX = "/_sim"


def _control(request: web.Request) -> SimControl:
    return SimControl(request.app[CORE_KEY])


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid_data({"_schema": ["Invalid input type."]})
    return body


def _bool(body: dict[str, Any], key: str) -> bool:
    if not isinstance(body.get(key), bool):
        raise invalid_data({key: ["Not a valid boolean."]})
    return bool(body[key])


async def ring(request: web.Request) -> web.Response:
    body = await _body(request)
    result = _control(request).ring(
        request.match_info["user"],
        from_number=body.get("from_number"),
        from_name=body.get("from_name", ""),
        from_user=body.get("from_user"),
    )
    return json_response(result, 201)


async def answer_user(request: web.Request) -> web.Response:
    _control(request).answer(user=request.match_info["user"])
    return web.Response(status=204)


async def hangup_user(request: web.Request) -> web.Response:
    body = await _body(request)
    _control(request).hangup(user=request.match_info["user"], reason_code=int(body.get("reason_code", 16)))
    return web.Response(status=204)


def _message_seconds(body: dict[str, Any]) -> int | None:
    value = body.get("message_seconds")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise web.HTTPBadRequest(text="message_seconds must be a non-negative integer")
    return value


async def no_answer_user(request: web.Request) -> web.Response:
    body = await _body(request)
    _control(request).no_answer(user=request.match_info["user"], message_seconds=_message_seconds(body))
    return web.Response(status=204)


async def call_action(request: web.Request) -> web.Response:
    control = _control(request)
    call_id = request.match_info["call_id"]
    action = request.match_info["action"]
    if action == "answer":
        control.answer(call_id=call_id)
    elif action == "hold":
        control.hold(call_id)
    elif action == "resume":
        control.resume(call_id)
    elif action == "hangup":
        body = await _body(request)
        control.hangup(call_id=call_id, reason_code=int(body.get("reason_code", 16)))
    elif action == "no-answer":
        control.no_answer(call_id=call_id, message_seconds=_message_seconds(await _body(request)))
    else:
        raise web.HTTPNotFound()
    return web.Response(status=204)


async def voicemail(request: web.Request) -> web.Response:
    body = await _body(request)
    message = _control(request).leave_voicemail(
        request.match_info["user"],
        from_number=body.get("from_number"),
        from_name=body.get("from_name"),
        duration=int(body.get("duration", 30)),
    )
    return json_response(message, 201)


async def dnd(request: web.Request) -> web.Response:
    _control(request).set_dnd(request.match_info["user"], _bool(await _body(request), "enabled"))
    return web.Response(status=204)


async def forward(request: web.Request) -> web.Response:
    body = await _body(request)
    destination = body.get("destination")
    if destination is not None and not isinstance(destination, str):
        raise invalid_data({"destination": ["Not a valid string."]})
    _control(request).set_forward(
        request.match_info["user"], _bool(body, "enabled"), destination, request.match_info["name"]
    )
    return web.Response(status=204)


async def user_registered(request: web.Request) -> web.Response:
    registered = _bool(await _body(request), "registered")
    _control(request).set_registered(user=request.match_info["user"], registered=registered)
    return web.Response(status=204)


async def line_registered(request: web.Request) -> web.Response:
    registered = _bool(await _body(request), "registered")
    _control(request).set_registered(line_id=int(request.match_info["line_id"]), registered=registered)
    return web.Response(status=204)


async def drop_websockets(request: web.Request) -> web.Response:
    return json_response({"closed": await _control(request).drop_websockets()})


async def chatd_unavailable(request: web.Request) -> web.Response:
    seconds = (await _body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise invalid_data({"seconds": ["Not a valid number."]})
    _control(request).chatd_unavailable(float(seconds))
    return web.Response(status=204)


async def confd_unavailable(request: web.Request) -> web.Response:
    seconds = (await _body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise invalid_data({"seconds": ["Not a valid number."]})
    _control(request).confd_unavailable(float(seconds))
    return web.Response(status=204)


def _count(body: dict[str, Any]) -> int:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise invalid_data({"count": ["Must be a positive integer."]})
    return count


async def lose_events(request: web.Request) -> web.Response:
    body = await _body(request)
    _control(request).lose_events(request.match_info["name"], _count(body))
    return web.Response(status=204)


async def malformed_list(request: web.Request) -> web.Response:
    body = await _body(request)
    _control(request).malformed_list(request.match_info["service"], _count(body))
    return web.Response(status=204)


async def create_user(request: web.Request) -> web.Response:
    return json_response(_control(request).create_user(await _body(request)), 201)


async def edit_user(request: web.Request) -> web.Response:
    _control(request).edit_user(request.match_info["user"], **(await _body(request)))
    return web.Response(status=204)


async def delete_user(request: web.Request) -> web.Response:
    _control(request).delete_user(request.match_info["user"])
    return web.Response(status=204)


async def expire_tokens(request: web.Request) -> web.Response:
    body = await _body(request)
    _control(request).expire_tokens(recheck_now=bool(body.get("recheck_now", False)))
    return web.Response(status=204)


async def inject(request: web.Request) -> web.Response:
    frame = (await _body(request)).get("frame")
    if not isinstance(frame, str):
        raise invalid_data({"frame": ["Not a valid string."]})
    return json_response({"sent": await _control(request).inject_frame(frame)})


async def state(request: web.Request) -> web.Response:
    return json_response(_control(request).state())


async def events(request: web.Request) -> web.Response:
    return json_response({"items": request.app[CORE_KEY].bus.published})


def routes() -> list[web.RouteDef]:
    user = f"{PREFIX}/users/{{user}}"
    return [
        web.post(f"{user}/ring", ring),
        web.post(f"{user}/answer", answer_user),
        web.post(f"{user}/hangup", hangup_user),
        web.post(f"{user}/no-answer", no_answer_user),
        web.post(f"{user}/voicemail", voicemail),
        web.put(f"{user}/dnd", dnd),
        web.put(f"{user}/forwards/{{name:busy|noanswer|unconditional}}", forward),
        web.put(f"{user}/registered", user_registered),
        web.put(f"{PREFIX}/lines/{{line_id:\\d+}}/registered", line_registered),
        web.post(f"{PREFIX}/calls/{{call_id}}/{{action}}", call_action),
        web.post(f"{PREFIX}/websockets/drop", drop_websockets),
        web.post(f"{PREFIX}/websockets/inject", inject),
        web.post(f"{PREFIX}/chatd/unavailable", chatd_unavailable),
        web.post(f"{PREFIX}/confd/unavailable", confd_unavailable),
        web.post(f"{PREFIX}/events/{{name}}/lose", lose_events),
        web.post(f"{PREFIX}/{{service}}/malformed", malformed_list),
        web.post(f"{PREFIX}/users", create_user),
        web.patch(user, edit_user),
        web.delete(user, delete_user),
        web.post(f"{PREFIX}/tokens/expire", expire_tokens),
        web.get(f"{PREFIX}/state", state),
        web.get(f"{PREFIX}/events", events),
    ]
