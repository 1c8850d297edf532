"""What commands need from the rest of the component, gathered in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from presence.directory import CombinedDirectory
from presence.identity import People
from presence.sources.wazo.client import WazoClient
from xmpp_component.commands.base import CommandError, Requester
from xmpp_component.commands.last_callers import LastCallers
from xmpp_component.commands.ratelimit import RateLimiter
from xmpp_component.config import CallsSection
from xmpp_component.user_settings import UserSettings


@dataclass
class CommandServices:
    component_jid: str
    domains: tuple[str, ...]
    admins: frozenset[str]
    people: Callable[[], People]
    wazo: Callable[[], WazoClient | None]
    directory: CombinedDirectory
    calls: CallsSection
    call_limiter: RateLimiter
    last_callers: LastCallers
    settings: UserSettings
    # "Now: in a meeting until 14:30; your calls go to voicemail" for the Settings form (the rules).
    situation: Callable[[Requester], str] | None = None
    # Name searches: per-user rate and shortest query (stop listing the directory), and a
    # colleague's current phone state by phone JID localpart, for the pick list.
    search_limiter: RateLimiter | None = None
    min_query_length: int = 2
    phone_state: Callable[[str], str] | None = None

    def requester(self, jid: str) -> Requester:
        bare = jid.split("/", 1)[0].lower()
        domain = bare.rsplit("@", 1)[-1]
        return Requester(
            jid=bare,
            person=self.people().by_chat_jid.get(bare) if "@" in bare else None,
            local="@" in bare and domain in self.domains,
            admin=bare in self.admins,
        )

    def pbx(self) -> WazoClient:
        wazo = self.wazo()
        if wazo is None:
            raise CommandError("the phone system (Wazo) is not connected yet; try again in a moment")
        return wazo
