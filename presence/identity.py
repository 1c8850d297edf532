"""Which chat user is which Wazo user: a pure mapping, rebuilt whenever Wazo's user list is read.

Rule, in order: an explicit override from the configuration; else, with ``match = "email"``, the
Wazo user's email when its domain is one of the chat domains; with ``match = "username"``, the
Wazo username at the first chat domain. The phone JID's localpart is the chat JID's localpart, so
``alice@example.org`` is seen as ``alice@phone.example.org``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from presence.model import UserUuid


class MatchRule(StrEnum):
    EMAIL = "email"
    USERNAME = "username"


@dataclass(frozen=True, slots=True)
class PbxUser:
    """What identity needs to know of a Wazo user (a projection of confd's user)."""

    uuid: UserUuid
    email: str = ""
    username: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Person:
    chat_jid: str  # bare, lower case
    wazo_uuid: UserUuid
    localpart: str  # of the phone JID
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class People:
    """The provisioned users, indexed every way the component needs them (O(1) lookups)."""

    by_chat_jid: Mapping[str, Person] = field(default_factory=dict)
    by_uuid: Mapping[UserUuid, Person] = field(default_factory=dict)
    by_localpart: Mapping[str, Person] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_chat_jid)


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """A Wazo user left without a phone JID, and why (for one clear log line each)."""

    wazo_uuid: UserUuid
    reason: str


def _chat_jid_for(user: PbxUser, rule: MatchRule, domains: tuple[str, ...]) -> str | None:
    if rule is MatchRule.EMAIL:
        email = user.email.strip().lower()
        if "@" in email and email.rsplit("@", 1)[1] in domains:
            return email
        return None
    username = user.username.strip().lower()
    if username and "@" not in username and domains:
        return f"{username}@{domains[0]}"
    return None


def build_people(
    users: Iterable[PbxUser],
    rule: MatchRule,
    chat_domains: Iterable[str],
    overrides: Mapping[str, str] | None = None,
) -> tuple[People, list[MappingProblem]]:
    """Map Wazo users to chat JIDs. ``overrides`` maps a chat JID to a Wazo uuid, email or username."""
    domains = tuple(d.lower() for d in chat_domains)
    users = list(users)
    forced: dict[UserUuid, str] = {}
    problems: list[MappingProblem] = []
    # uuid, email or username (lower case) -> the first user with it: one pass over the users,
    # not one per override.
    by_key: dict[str, PbxUser] = {}
    if overrides:
        for u in users:
            for key in (u.uuid.lower(), u.email.lower(), u.username.lower()):
                by_key.setdefault(key, u)
    for override_jid, wazo_key in (overrides or {}).items():
        match = by_key.get(wazo_key.lower())
        if match is None:
            problems.append(MappingProblem("", f"override {override_jid} -> {wazo_key}: no such Wazo user"))
        else:
            forced[match.uuid] = override_jid.lower()
    by_jid: dict[str, Person] = {}
    by_uuid: dict[UserUuid, Person] = {}
    by_local: dict[str, Person] = {}
    # Overrides first so that they win over a rule-derived JID for the same chat user.
    ordered = sorted(users, key=lambda u: u.uuid not in forced) if forced else users
    for user in ordered:
        chat_jid = forced.get(user.uuid) or _chat_jid_for(user, rule, domains)
        if chat_jid is None:
            problems.append(MappingProblem(user.uuid, f"no chat JID by {rule.value} (email {user.email!r})"))
            continue
        localpart = chat_jid.split("@", 1)[0]
        if chat_jid in by_jid or localpart in by_local:
            taken = by_jid.get(chat_jid) or by_local[localpart]
            problems.append(
                MappingProblem(user.uuid, f"{chat_jid} is already mapped to Wazo user {taken.wazo_uuid}")
            )
            continue
        person = Person(chat_jid, user.uuid, localpart, user.display_name)
        by_jid[chat_jid] = person
        by_uuid[user.uuid] = person
        by_local[localpart] = person
    return People(by_jid, by_uuid, by_local), problems
