"""The simulator's static world: tenants, users, their lines and service accounts, from TOML.

Only what a real Wazo stores in confd/wazo-auth is here; what changes while the PBX runs
(calls, DND, presence, registrations) lives in :mod:`wazo_sim.state`.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_USERS_FILE = Path(__file__).with_name("demo_users.toml")

# wazo-auth's default token lifetime (wazo-auth: etc/wazo-auth/config.yml default_token_lifetime).
DEFAULT_TOKEN_LIFETIME = 7200

# ACLs given to user tokens unless the file says otherwise; modelled on the token dump quoted in
# reference wazo-api.md §11 (a real install configures this with wazo-auth policies).
DEFAULT_USER_ACL: tuple[str, ...] = (
    "websocketd",
    "events.calls.me",
    "events.users.me.#",
    "events.config.users.me.#",
    "events.chatd.users.*.presences.updated",
    "chatd.users.*.presences.read",
    "chatd.users.me.presences.update",
    "calld.users.me.#",
    "confd.users.me.read",
    "confd.users.me.services.*.*",
    "confd.users.me.forwards.*.*",
)


@dataclass(frozen=True, slots=True)
class LineConfig:
    """One SIP line of a user, with its main extension (confd line + extension)."""

    id: int
    name: str  # PJSIP endpoint name, the channel is ``PJSIP/<name>-xxxxxxxx``
    exten: str
    context: str
    extension_id: int
    registered: bool = True
    endpoint_uuid: str = ""


@dataclass(frozen=True, slots=True)
class UserConfig:
    """A PBX user: the confd user, its wazo-auth account and its lines."""

    id: int
    uuid: str
    tenant_uuid: str
    firstname: str
    lastname: str
    email: str
    username: str
    password: str
    lines: tuple[LineConfig, ...]
    voicemail_id: int | None = None
    mobile_phone_number: str = ""
    acl: tuple[str, ...] = DEFAULT_USER_ACL

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}".strip()

    @property
    def main_line(self) -> LineConfig | None:
        return self.lines[0] if self.lines else None

    @property
    def exten(self) -> str:
        return self.lines[0].exten if self.lines else ""


@dataclass(frozen=True, slots=True)
class ServiceAccountConfig:
    """A wazo-auth user with no PBX user behind it (purpose ``external_api`` or ``internal``)."""

    uuid: str
    tenant_uuid: str
    username: str
    password: str
    purpose: str
    acl: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator needs to start."""

    wazo_uuid: str
    users: tuple[UserConfig, ...]
    service_accounts: tuple[ServiceAccountConfig, ...] = ()
    default_token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    # Upper bound on websocketd's token re-check delay; None keeps the real schedule (§3.4).
    auth_check_max_interval: float | None = None
    # Sub-tenant -> parent tenant (wazo-auth's tenant tree); tenants absent here have no parent.
    tenant_parents: dict[str, str] = field(default_factory=dict)
    # Context -> extension patterns of its outgoing calls (Wazo "outcalls" over a trunk).
    outcalls: dict[str, tuple[str, ...]] = field(default_factory=dict)
    users_by_uuid: dict[str, UserConfig] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "users_by_uuid", {user.uuid: user for user in self.users})

    def tenant_and_subtenants(self, tenant: str) -> set[str]:
        """``tenant`` and every tenant below it (what ``recurse=true`` covers)."""
        found = {tenant}
        grew = True
        while grew:
            below = {child for child, parent in self.tenant_parents.items() if parent in found}
            grew = not below <= found
            found |= below
        return found

    def outcall_matches(self, exten: str, context: str) -> bool:
        """Whether ``exten`` leaves the PBX from ``context`` (Asterisk pattern matching)."""
        return any(asterisk_pattern(p).fullmatch(exten) for p in self.outcalls.get(context, ()))

    def user_by_id_or_uuid(self, key: str) -> UserConfig | None:
        """confd's ``{user_id}``: the integer id or the UUID."""
        if key.isdigit():
            return next((u for u in self.users if u.id == int(key)), None)
        return self.users_by_uuid.get(key)

    def user_by_extension(
        self, exten: str, context: str | None = None
    ) -> tuple[UserConfig, LineConfig] | None:
        for user in self.users:
            for line in user.lines:
                if line.exten == exten and (context is None or line.context == context):
                    return user, line
        return None

    def line_owner(self, line_id: int) -> tuple[UserConfig, LineConfig] | None:
        for user in self.users:
            for line in user.lines:
                if line.id == line_id:
                    return user, line
        return None


_PATTERN_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


def asterisk_pattern(pattern: str) -> re.Pattern[str]:
    """An Asterisk extension (``_0XXXXXXXXX``, ``_00Z.``, ``_[+]X.``) as a regex; no ``_``: literal."""
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern))
    out, i, body = [], 0, pattern[1:]
    while i < len(body):
        char = body[i]
        if char == "[":
            end = body.index("]", i)
            out.append("[" + "".join("\\" + c if c in "\\^]" else c for c in body[i + 1 : end]) + "]")
            i = end + 1
            continue
        out.append(_PATTERN_CLASSES.get(char.upper(), re.escape(char)))
        i += 1
    return re.compile("".join(out))


class ConfigError(ValueError):
    """The TOML file does not describe a usable world."""


def load_config(path: Path | str = DEMO_USERS_FILE) -> SimConfig:
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> SimConfig:
    wazo = raw.get("wazo", {})
    default_tenant = str(wazo.get("tenant_uuid") or uuid.uuid4())
    users = tuple(parse_user_entry(entry, default_tenant) for entry in raw.get("users", []))
    accounts = tuple(_parse_account(entry, default_tenant) for entry in raw.get("service_accounts", []))
    _check_unique("user id", [u.id for u in users])
    _check_unique("user uuid", [u.uuid for u in users])
    _check_unique("username", [u.username for u in users] + [a.username for a in accounts])
    _check_unique("line id", [line.id for u in users for line in u.lines])
    max_interval = wazo.get("auth_check_max_interval")
    return SimConfig(
        wazo_uuid=str(wazo.get("uuid") or uuid.uuid4()),
        users=users,
        service_accounts=accounts,
        default_token_lifetime=int(wazo.get("default_token_lifetime", DEFAULT_TOKEN_LIFETIME)),
        auth_check_max_interval=float(max_interval) if max_interval is not None else None,
        outcalls={str(o["context"]): tuple(str(p) for p in o["patterns"]) for o in raw.get("outcalls", [])},
        tenant_parents={
            str(t["uuid"]): str(t["parent_uuid"]) for t in raw.get("tenants", []) if "parent_uuid" in t
        },
    )


def _check_unique(what: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"duplicate {what}: {value!r}")
        seen.add(value)


def parse_user_entry(entry: dict[str, Any], default_tenant: str) -> UserConfig:
    try:
        user_id = int(entry["id"])
        lines_raw = entry.get("lines")
        if lines_raw is None and "exten" in entry:
            # Shorthand: one line described by the user's own keys.
            lines_raw = [
                {
                    "id": entry.get("line_id", user_id),
                    "name": entry.get("line_name", entry["username"]),
                    "exten": entry["exten"],
                    "context": entry.get("context", "default"),
                    "registered": entry.get("registered", True),
                }
            ]
        lines = tuple(
            LineConfig(
                id=int(line["id"]),
                name=str(line["name"]),
                exten=str(line["exten"]),
                context=str(line.get("context", "default")),
                extension_id=int(line.get("extension_id", line["id"])),
                registered=bool(line.get("registered", True)),
                endpoint_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"endpoint-sip:{line['name']}")),
            )
            for line in (lines_raw or [])
        )
        acl = entry.get("acl")
        return UserConfig(
            id=user_id,
            uuid=str(entry.get("uuid") or uuid.uuid5(uuid.NAMESPACE_URL, f"user:{entry['username']}")),
            tenant_uuid=str(entry.get("tenant_uuid", default_tenant)),
            firstname=str(entry.get("firstname", entry["username"])),
            lastname=str(entry.get("lastname", "")),
            email=str(entry.get("email", "")),
            username=str(entry["username"]),
            password=str(entry["password"]),
            lines=lines,
            voicemail_id=int(entry["voicemail_id"]) if "voicemail_id" in entry else None,
            mobile_phone_number=str(entry.get("mobile_phone_number", "")),
            acl=tuple(acl) if acl is not None else DEFAULT_USER_ACL,
        )
    except KeyError as missing:
        raise ConfigError(f"user entry lacks {missing}") from None


def _parse_account(entry: dict[str, Any], default_tenant: str) -> ServiceAccountConfig:
    try:
        purpose = str(entry.get("purpose", "external_api"))
        if purpose not in ("external_api", "internal"):
            raise ConfigError(f"service account purpose must be external_api or internal, not {purpose!r}")
        return ServiceAccountConfig(
            uuid=str(entry.get("uuid") or uuid.uuid5(uuid.NAMESPACE_URL, f"account:{entry['username']}")),
            tenant_uuid=str(entry.get("tenant_uuid", default_tenant)),
            username=str(entry["username"]),
            password=str(entry["password"]),
            purpose=purpose,
            acl=tuple(entry.get("acl", ())),
        )
    except KeyError as missing:
        raise ConfigError(f"service account entry lacks {missing}") from None
