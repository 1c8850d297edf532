"""What commands need from the rest of the component, gathered in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from presence.directory import CombinedDirectory
from presence.identity import People
from presence.model import Call
from presence.privacy import PrivacyPolicy
from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.confd import WazoUser
from xmpp_component.commands.base import CommandError, Requester
from xmpp_component.commands.ratelimit import RateLimiter
from xmpp_component.commands.revocations import Revocations
from xmpp_component.config import CallsSection
from xmpp_component.user_settings import UserSettings

if TYPE_CHECKING:
    from xmpp_component.admin_ops import AdminOps
    from xmpp_component.call_history import CallHistory


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
    history: CallHistory | None  # each user's recent calls (Recent calls, Call back)
    settings: UserSettings
    policy: PrivacyPolicy  # the company's rule: bounds what a user may grant (Phone privacy)
    revocations: Revocations | None  # the held-back mass revocation (Confirm revocations)
    # "Now: in a meeting until 14:30; your calls go to voicemail" for the Settings form (the rules).
    situation: Callable[[Requester], str] | None = None
    admin: AdminOps | None = None  # the administrators' Status, Explain user, Resync, Reload...
    on_command: Callable[[str, str], None] | None = None  # (command name, outcome): for metrics

    on_origination: Callable[[str], None] | None = None  # outcome (placed, refused): for metrics

    def count_origination(self, outcome: str) -> None:
        if self.on_origination is not None:
            self.on_origination(outcome)

    def count_command(self, name: str, outcome: str) -> None:
        if self.on_command is not None:
            self.on_command(name, outcome)

    def reconfigure(self, config: Any) -> None:
        """A configuration reload: the keys commands read at run time (admin_ops.LIVE_KEYS)."""
        self.admins = frozenset(j.lower() for j in config.component.admins)
        if config.calls != self.calls:
            self.call_limiter = RateLimiter(config.calls.max_calls_per_minute, 60.0)
            self.calls = config.calls

    # Name searches: per-user rate and shortest query (stop listing the directory), and a
    # colleague's current phone state by phone JID localpart, for the pick list.
    search_limiter: RateLimiter | None = None
    min_query_length: int = 2
    phone_state: Callable[[str], str] | None = None
    # A user's current calls as the Wazo event stream told them (Wazo uuid -> calls), or None
    # while the stream is not live and resynchronised (then only calld knows).
    tracked_calls: Callable[[str], tuple[Call, ...] | None] | None = None
    # The Wazo user (lines, mobile) as provisioning last read it, when no Wazo event said it
    # changed since; None: ask confd. Saves a confd request per click-to-call.
    known_pbx_user: Callable[[str], WazoUser | None] | None = None
    # (message id, owner's Wazo uuid) -> the signed "listen" URL; None when [http] is off.
    voicemail_link: Callable[[str, str], str] | None = None
    # The company's time zone (calendar.timezone): times said to users (voicemail messages).
    zone: tzinfo = UTC

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
