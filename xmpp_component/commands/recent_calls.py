""" "Recent calls" (chat: ``calls``): the requester's last calls from the call history, newest
first, and a call back on the one picked. ``call back N`` (:mod:`.callback`) numbers them alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from presence.call_history import ROWS_SHOWN, HistoryEntry
from xmpp_component.commands.base import (
    Command,
    CommandError,
    Done,
    Field,
    FieldError,
    Form,
    Option,
    Reply,
    Requester,
    Values,
)
from xmpp_component.commands.dialing import dial_target, place_call

if TYPE_CHECKING:
    from xmpp_component.call_history import CallHistory
    from xmpp_component.commands.services import CommandServices

SHOWN = ROWS_SHOWN  # rows of the list (the store keeps calls.history_size)
ENTRY = "entry"


def history_of(services: CommandServices) -> CallHistory:
    if services.history is None:
        raise CommandError("the call history is not available (the phone system is not connected)")
    return services.history


async def recent(services: CommandServices, requester: Requester) -> list[HistoryEntry]:
    assert requester.person is not None  # Access.PHONE_USER
    return await history_of(services).recent(requester.person.wazo_uuid, SHOWN)


async def call_back(services: CommandServices, requester: Requester, entry: HistoryEntry) -> Reply:
    history = history_of(services)
    if not entry.number:
        raise CommandError("that caller's number was withheld: there is nothing to call back")
    name = history.name_of(entry.name, entry.number)
    return await place_call(services, requester, dial_target(services, entry.number, ENTRY), name)


def pick_form(
    services: CommandServices, requester: Requester, entries: list[HistoryEntry], title: str
) -> Form:
    """The list of calls; the one picked is called back."""
    history = history_of(services)

    async def chosen(values: Values) -> Reply:
        index = values.get(ENTRY, "")
        if not index.isdigit() or not 1 <= int(index) <= len(entries):
            raise FieldError(ENTRY, "pick one of the listed calls")
        return await call_back(services, requester, entries[int(index) - 1])

    return Form(
        title,
        [
            Field(
                ENTRY,
                "Call back",
                kind="list-single",
                options=tuple(
                    Option(str(i), history.label(entry), entry.number) for i, entry in enumerate(entries, 1)
                ),
                required=True,
                value="1",
            )
        ],
        chosen,
        instructions="Newest first. Pick one to call back: your own phone rings first.",
        final=True,
    )


NO_CALLS = "No calls yet: your calls appear here as they end."


class RecentCallsCommand(Command):
    NAME = "Recent calls"
    NODE = "calls"
    CHAT_COMMAND = "calls"
    CHAT_USAGE = "calls   your recent calls, to call one back"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        entries = await recent(self.services, requester)
        if not entries:
            return Done(NO_CALLS)
        return pick_form(self.services, requester, entries, "Recent calls")
