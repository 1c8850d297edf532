"""wazo-confd: users and their lines, DND and forwards (reference wazo-api.md §8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from presence.sources.wazo.errors import WazoShapeError
from presence.sources.wazo.http import WazoHttp


class ForwardKind(StrEnum):
    BUSY = "busy"
    NOANSWER = "noanswer"
    UNCONDITIONAL = "unconditional"


@dataclass(frozen=True, slots=True)
class Forward:
    enabled: bool = False
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class Forwards:
    busy: Forward = Forward()
    noanswer: Forward = Forward()
    unconditional: Forward = Forward()

    def get(self, kind: ForwardKind) -> Forward:
        forward: Forward = getattr(self, kind.value)
        return forward


@dataclass(frozen=True, slots=True)
class Extension:
    exten: str
    context: str


@dataclass(frozen=True, slots=True)
class WazoLine:
    id: int
    name: str
    protocol: str
    context: str
    extensions: tuple[Extension, ...] = ()

    @property
    def main_extension(self) -> Extension | None:
        return self.extensions[0] if self.extensions else None


@dataclass(frozen=True, slots=True)
class WazoUser:
    uuid: str
    id: int | None
    firstname: str
    lastname: str
    email: str
    username: str
    mobile_phone_number: str = ""
    lines: tuple[WazoLine, ...] = ()
    has_voicemail: bool = False  # a voicemail box is attached (DND then sends calls there)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.firstname, self.lastname) if part)

    @property
    def main_line(self) -> WazoLine | None:
        """calld takes ``lines[0]`` as the main line; so do we."""
        return self.lines[0] if self.lines else None


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _parse_line(line: Any) -> WazoLine:
    what = "confd user line"
    if not isinstance(line, Mapping):
        raise WazoShapeError(what, "lines[]", "must be an object")
    line_id = line.get("id")
    if not isinstance(line_id, int) or isinstance(line_id, bool):
        raise WazoShapeError(what, "lines[].id", "is missing or not an integer")
    protocol = _text(line, "protocol")
    if not protocol:
        protocol = next((p for p in ("sip", "sccp", "custom") if line.get(f"endpoint_{p}")), "sip")
    extensions = []
    for ext in line.get("extensions") or []:
        if isinstance(ext, Mapping) and isinstance(ext.get("exten"), str):
            extensions.append(Extension(exten=ext["exten"], context=_text(ext, "context")))
    return WazoLine(
        id=line_id,
        name=_text(line, "name"),
        protocol=protocol,
        context=_text(line, "context"),
        extensions=tuple(extensions),
    )


def parse_user(user: Any) -> WazoUser:
    """A confd user (default view) → WazoUser."""
    what = "confd user"
    if not isinstance(user, Mapping):
        raise WazoShapeError(what, "item", "must be an object")
    uuid = user.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        raise WazoShapeError(what, "uuid", "is missing or not a string")
    user_id = user.get("id")
    lines = user.get("lines") or []
    if not isinstance(lines, list):
        raise WazoShapeError(what, "lines", "must be a list")
    return WazoUser(
        uuid=uuid,
        id=user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        firstname=_text(user, "firstname"),
        lastname=_text(user, "lastname"),
        email=_text(user, "email"),
        username=_text(user, "username"),
        mobile_phone_number=_text(user, "mobile_phone_number"),
        lines=tuple(_parse_line(line) for line in lines),
        has_voicemail=isinstance(user.get("voicemail"), Mapping),
    )


def parse_user_list(body: Any) -> list[WazoUser]:
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise WazoShapeError("confd user list", "items", "is missing or not a list")
    return [parse_user(item) for item in body["items"]]


def parse_service(body: Any) -> bool:
    if not isinstance(body, Mapping) or not isinstance(body.get("enabled"), bool):
        raise WazoShapeError("confd user service", "enabled", "is missing or not a boolean")
    return bool(body["enabled"])


def _parse_forward(body: Any, key: str) -> Forward:
    if body is None:
        return Forward()
    if not isinstance(body, Mapping) or not isinstance(body.get("enabled"), bool):
        raise WazoShapeError("confd user forward", f"{key}.enabled", "is missing or not a boolean")
    destination = body.get("destination")
    return Forward(enabled=body["enabled"], destination=destination if isinstance(destination, str) else None)


def parse_forwards(body: Any) -> Forwards:
    if not isinstance(body, Mapping):
        raise WazoShapeError("confd user forwards", "body", "must be an object")
    return Forwards(**{kind.value: _parse_forward(body.get(kind.value), kind.value) for kind in ForwardKind})


class ConfdClient:
    """``user`` arguments accept the user's UUID or integer id, as confd does."""

    PAGE_SIZE = 500

    def __init__(self, http: WazoHttp) -> None:
        self._http = http

    async def list_users(
        self, search: str | None = None, *, at_most: int | None = None, **exact: str
    ) -> list[WazoUser]:
        """All users (paged), or those matching ``search`` (substring) and exact filters
        such as ``email=...``; ``at_most`` stops after that many (a search box needs a few)."""
        users: list[WazoUser] = []
        while at_most is None or len(users) < at_most:
            size = self.PAGE_SIZE if at_most is None else min(self.PAGE_SIZE, at_most - len(users))
            params = {**exact, "limit": str(size), "offset": str(len(users))}
            if search:
                params["search"] = search
            page = await self._http.request_parsed(parse_user_list, "confd", "GET", "/users", params=params)
            users.extend(page)
            if len(page) < size:
                break
        return users

    async def get_user(self, user: str | int) -> WazoUser:
        return await self._http.request_parsed(parse_user, "confd", "GET", f"/users/{quote(str(user))}")

    async def get_dnd(self, user: str | int) -> bool:
        return await self._http.request_parsed(
            parse_service, "confd", "GET", f"/users/{quote(str(user))}/services/dnd"
        )

    async def set_dnd(self, user: str | int, enabled: bool) -> None:
        await self._http.request(
            "confd",
            "PUT",
            f"/users/{quote(str(user))}/services/dnd",
            json_body={"enabled": enabled},
            expect=(204,),
        )

    async def get_forwards(self, user: str | int) -> Forwards:
        return await self._http.request_parsed(
            parse_forwards, "confd", "GET", f"/users/{quote(str(user))}/forwards"
        )

    async def set_forward(self, user: str | int, kind: ForwardKind, forward: Forward) -> None:
        # destination is always sent (null too): left out, confd would keep the old one, and a
        # forward given back would keep the component's number.
        body: dict[str, Any] = {"enabled": forward.enabled, "destination": forward.destination}
        await self._http.request(
            "confd",
            "PUT",
            f"/users/{quote(str(user))}/forwards/{kind.value}",
            json_body=body,
            expect=(204,),
        )
