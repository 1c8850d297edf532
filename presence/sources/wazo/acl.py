"""Every wazo-auth ACL the service account needs, declared once, next to the calls that need them.

Each REST call the component makes and each bus event it subscribes to is listed with the ACL
Wazo checks for it (the "Required ACL" of the OpenAPI descriptions; a path word such as
``{user_id}`` is written ``*`` so that one grant covers every user). The doctor checks exactly this
list and the README's "Connecting to Wazo" section is generated from it
(``python -m presence.sources.wazo.acl``); tests keep the three in step with the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from presence.sources.wazo.parsing import (
    CALL_EVENT_KINDS,
    DND_EVENT,
    FORWARD_EVENTS,
    LINE_EXTENSION_EVENTS,
    PRESENCE_EVENT,
    USER_EVENTS,
    USER_LINE_EVENTS,
    VOICEMAIL_EVENT,
)


@dataclass(frozen=True, slots=True)
class RestNeed:
    """One REST call: ``method`` ``path`` (under the service's base path) needs ``acl``."""

    acl: str
    service: str  # auth | calld | chatd | confd
    method: str
    path: str  # OpenAPI template, e.g. /users/{user_id}
    used_for: str

    @property
    def read_only(self) -> bool:
        """Safe to try from the doctor: it changes nothing on the PBX."""
        return self.method == "GET"


@dataclass(frozen=True, slots=True)
class EventNeed:
    """Bus events delivered by websocketd only when the token's ACL matches their required ACL."""

    acl: str
    events: tuple[str, ...]
    used_for: str


WEBSOCKET_ACL: Final = "websocketd"

REST_NEEDS: Final[tuple[RestNeed, ...]] = (
    RestNeed(
        "confd.users.read", "confd", "GET", "/users", "read the users (start, reconnection, name search)"
    ),
    RestNeed("confd.users.*.read", "confd", "GET", "/users/{user_id}", "the caller's line before a call"),
    RestNeed(
        "chatd.users.presences.read",
        "chatd",
        "GET",
        "/users/presences",
        "every phone state after a reconnection",
    ),
    RestNeed("calld.calls.read", "calld", "GET", "/calls", "current calls (reconnection, Hang up)"),
    RestNeed(
        "calld.voicemails.messages.read",
        "calld",
        "GET",
        "/voicemails/messages",
        "Call back a voicemail's caller, Voicemail, listen links (whose mailbox a message is in)",
    ),
    RestNeed(
        "calld.voicemails.*.read",
        "calld",
        "GET",
        "/voicemails/{voicemail_id}",
        "Voicemail: mark read (the mailbox's folder of type old)",
    ),
    RestNeed(
        "calld.voicemails.*.messages.*.recording.read",
        "calld",
        "GET",
        "/voicemails/{voicemail_id}/messages/{message_id}/recording",
        "voicemail listen links (the recording, streamed)",
    ),
    RestNeed(
        "confd.users.*.services.*.read",
        "confd",
        "GET",
        "/users/{user_id}/services/{service_name}",
        "call rules: the user's own DND",
    ),
    RestNeed(
        "confd.users.*.forwards.read", "confd", "GET", "/users/{user_id}/forwards", "call rules: own forwards"
    ),
    RestNeed("calld.calls.create", "calld", "POST", "/calls", "Call (click-to-call)"),
    RestNeed("calld.calls.*.delete", "calld", "DELETE", "/calls/{call_id}", "Hang up"),
    RestNeed(
        "confd.users.*.services.*.update",
        "confd",
        "PUT",
        "/users/{user_id}/services/{service_name}",
        "call rules: DND to voicemail during a meeting or chat DND",
    ),
    RestNeed(
        "confd.users.*.forwards.*.update",
        "confd",
        "PUT",
        "/users/{user_id}/forwards/{forward_name}",
        "call rules: forward to a number during a meeting or chat DND",
    ),
    RestNeed(
        "calld.voicemails.*.messages.*.update",
        "calld",
        "PUT",
        "/voicemails/{voicemail_id}/messages/{message_id}",
        "Voicemail: mark read (moves the message to the old folder)",
    ),
    RestNeed(
        "calld.voicemails.*.messages.*.delete",
        "calld",
        "DELETE",
        "/voicemails/{voicemail_id}/messages/{message_id}",
        "Voicemail: delete",
    ),
)

EVENT_NEEDS: Final[tuple[EventNeed, ...]] = (
    EventNeed("events.chatd.users.*.presences.updated", (PRESENCE_EVENT,), "phone line states"),
    EventNeed("events.calls.*", tuple(CALL_EVENT_KINDS), "calls: ringing, calling, on the phone, on hold"),
    EventNeed("events.config.users.*.services.dnd.updated", (DND_EVENT,), "do not disturb"),
    EventNeed(
        "events.config.users.*.forwards.*.updated",
        tuple(FORWARD_EVENTS),
        "call rules: the user changing their own forwards",
    ),
    EventNeed("events.users.*.voicemails", (VOICEMAIL_EVENT,), "voicemail notices, Call back"),
    EventNeed("events.config.user.*", USER_EVENTS, "users created, edited, deleted: read again at once"),
    EventNeed("events.config.users.*.lines.*.*", USER_LINE_EVENTS, "a user's lines changed"),
    EventNeed(
        "events.config.line_extension_associated.*", LINE_EXTENSION_EVENTS, "a line's extension changed"
    ),
)


def required_acls() -> tuple[str, ...]:
    """The service account's policy: every ACL above, in a stable order, without duplicates."""
    acls = [WEBSOCKET_ACL, *(n.acl for n in EVENT_NEEDS), *(n.acl for n in REST_NEEDS)]
    return tuple(dict.fromkeys(acls))


def render_acl_table_markdown() -> str:
    """The README table: one row per ACL, with what the component does with it."""
    rows = ["| ACL | needed for |", "|---|---|"]
    rows.append(f"| `{WEBSOCKET_ACL}` | the event stream (wazo-websocketd) |")
    for event in EVENT_NEEDS:
        names = ", ".join(f"`{name}`" for name in event.events)
        rows.append(f"| `{event.acl}` | events {names}: {event.used_for} |")
    for rest in REST_NEEDS:
        rows.append(f"| `{rest.acl}` | {rest.service} `{rest.method} {rest.path}`: {rest.used_for} |")
    return "\n".join(rows) + "\n"


def render_policy_command(policy: str = "phonepresence") -> str:
    """The ``wazo-auth-cli`` command creating the policy (each ACL quoted: ``#`` and ``*``)."""
    first, *others = required_acls()
    lines = ['wazo-auth-cli policy create --tenant "$TENANT" --description "phonepresence component" \\']
    lines += [f"  --acl {first!r} \\", *(f"        {acl!r} \\" for acl in others)]
    lines += [f"  -- {policy}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # regenerate the README table: python -m presence.sources.wazo.acl
    print(render_acl_table_markdown(), end="")
    print()
    print(render_policy_command(), end="")
