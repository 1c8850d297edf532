"""Commands: click-to-call ("Call", "Hang up", "Call back", "Recent calls"), "Voicemail", "Phone
privacy", "Settings", the admins' "Confirm revocations" and "help", as XEP-0050 ad-hoc commands and
as chat text sent to the component. One class per command (:mod:`.base`), two adapters
(:mod:`.adhoc`, :mod:`.chat`). :func:`install_commands` wires them into the component.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from presence.directory.address_book import AddressBooks
from presence.hub import PresenceHub
from presence.identity import People
from presence.privacy import PrivacyPolicy
from presence.sources.wazo.client import WazoClient
from xmpp_component.commands.adhoc import AdhocAdapter
from xmpp_component.commands.admin import admin_commands
from xmpp_component.commands.base import Command
from xmpp_component.commands.call import CallCommand, phone_state_label
from xmpp_component.commands.callback import CallBackCommand
from xmpp_component.commands.chat import ChatAdapter
from xmpp_component.commands.hangup import HangupCommand
from xmpp_component.commands.help import HelpCommand
from xmpp_component.commands.privacy import PrivacyCommand
from xmpp_component.commands.ratelimit import RateLimiter
from xmpp_component.commands.recent_calls import RecentCallsCommand
from xmpp_component.commands.revocations import ConfirmRevocationsCommand, Revocations
from xmpp_component.commands.services import CommandServices
from xmpp_component.commands.settings import (
    DndSettingCommand,
    IncomingCallsSettingCommand,
    MeetingSettingCommand,
    MissedCallsSettingCommand,
    RingFirstSettingCommand,
    SettingsCommand,
)
from xmpp_component.commands.voicemail import VoicemailCommand
from xmpp_component.config import Config
from xmpp_component.directory_sources import build_directory
from xmpp_component.user_settings import UserSettings

if TYPE_CHECKING:
    from xmpp_component.call_history import CallHistory


def _uuid_of(people: People, localpart: str) -> str:
    """The hub's key (Wazo uuid) of the user whose phone JID localpart this is ("" if nobody)."""
    person = people.by_localpart.get(localpart)
    return person.wazo_uuid if person is not None else ""


@dataclass
class InstalledCommands:
    services: CommandServices
    commands: list[Command]
    adhoc: AdhocAdapter
    chat: ChatAdapter
    address_books: AddressBooks | None = None  # filled by the CardDAV sync, searched by commands


def install_commands(
    xmpp: Any,
    config: Config,
    domains: tuple[str, ...],
    people: Callable[[], People],
    wazo: Callable[[], WazoClient | None],
    hub: PresenceHub,
    settings: UserSettings,
    policy: PrivacyPolicy,
    revocations: Revocations | None = None,
    admin: Any = None,
    on_command: Callable[[str, str], None] | None = None,
    on_origination: Callable[[str], None] | None = None,
    history: CallHistory | None = None,
) -> InstalledCommands:
    """Build the commands and both adapters; they register themselves at every session start."""

    def confd() -> Any:
        client = wazo()
        return client.confd if client is not None else None

    address_books = AddressBooks()
    services = CommandServices(
        component_jid=config.component.jid,
        domains=domains,
        admins=frozenset(j.lower() for j in config.component.admins),
        people=people,
        wazo=wazo,
        directory=build_directory(config, confd, address_books),
        calls=config.calls,
        call_limiter=RateLimiter(config.calls.max_calls_per_minute, 60.0),
        history=history,
        settings=settings,
        policy=policy,
        revocations=revocations,
        admin=admin,
        on_command=on_command,
        on_origination=on_origination,
        search_limiter=RateLimiter(config.directory.searches_per_minute, 60.0),
        min_query_length=config.directory.min_query_length,
        phone_state=lambda localpart: phone_state_label(hub.presence(_uuid_of(people(), localpart))),
    )
    commands: list[Command] = [
        CallCommand(services),
        HangupCommand(services),
        CallBackCommand(services),
        RecentCallsCommand(services),
        VoicemailCommand(services),
        PrivacyCommand(services),
        ConfirmRevocationsCommand(services),
        SettingsCommand(services),
        MeetingSettingCommand(services),
        DndSettingCommand(services),
        RingFirstSettingCommand(services),
        MissedCallsSettingCommand(services),
        IncomingCallsSettingCommand(services),
        *admin_commands(services),
    ]
    commands.append(HelpCommand(services, commands))
    return InstalledCommands(
        services,
        commands,
        AdhocAdapter(xmpp, services, commands),
        ChatAdapter(xmpp, services, commands),
        address_books,
    )
