"""Bus events as wazo-bus marshals them, and websocketd's per-token delivery rules.

Reference wazo-api.md §4 (message body = headers + ``data``) and §3.5 (which token sees what).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wazo_sim.tokens import Token

ALL_USERS = "*"


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One event as a Wazo daemon publishes it.

    ``user_uuids`` is ``(ALL_USERS,)`` for a TenantEvent, the owner for a UserEvent, or several
    users for a MultiUserEvent.
    """

    name: str
    data: dict[str, Any]
    tenant_uuid: str
    required_acl: str | None
    user_uuids: tuple[str, ...] = (ALL_USERS,)

    def body(self, origin_uuid: str, timestamp: datetime | None = None) -> dict[str, Any]:
        """The AMQP body = headers merged with ``data``: what websocketd v2 puts in a frame's data."""
        body: dict[str, Any] = {"tenant_uuid": self.tenant_uuid}
        for user_uuid in self.user_uuids:
            body[f"user_uuid:{user_uuid}"] = True
        body["name"] = self.name
        body["required_access"] = f"event.{self.name}"
        body["required_acl"] = self.required_acl
        body["origin_uuid"] = origin_uuid
        body["timestamp"] = (timestamp or datetime.now()).isoformat()
        body["data"] = self.data
        return body


def token_receives(token: Token, event: BusEvent) -> bool:
    """websocketd's routing for a non-master-tenant token, then its ACL check (§3.5)."""
    if event.tenant_uuid != token.tenant_uuid:
        return False
    if not token.is_tenant_admin and not (ALL_USERS in event.user_uuids or token.auth_id in event.user_uuids):
        return False
    return token.access.matches(event.required_acl)


EventListener = Callable[[BusEvent, dict[str, Any]], None]


class Bus:
    """Fans each published event out to the listeners (websocket sessions, test recorders)."""

    def __init__(self, origin_uuid: str) -> None:
        self.origin_uuid = origin_uuid
        self._listeners: list[EventListener] = []
        self.published: list[dict[str, Any]] = []  # every body, for tests and /_sim/events
        self.max_kept = 1000

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, events: list[BusEvent]) -> None:
        for event in events:
            body = event.body(self.origin_uuid)
            self.published.append(body)
            del self.published[: -self.max_kept]
            for listener in list(self._listeners):
                listener(event, body)
