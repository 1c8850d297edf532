""" "Voicemail": the requester's own voicemail messages, new and old, and for each one: listen (the
signed link), call back, mark read (calld moves it to the "old" folder), delete.

Chat: ``voicemail`` lists them, numbered newest first; ``voicemail listen|call|read|delete N`` acts
on the N-th at once. Ad-hoc: pick a message, then what to do. Every action reads the requester's
mailbox again and acts only on a message found in it: an id from elsewhere (a forged form, another
user's message, one deleted meanwhile) is refused and nothing is done.
"""

from __future__ import annotations

import asyncio

from presence.phone_numbers import display_number
from presence.sources.wazo.calld import VoicemailMessage
from presence.sources.wazo.errors import WazoError
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
    describe,
)
from xmpp_component.commands.dialing import dial_target, place_call
from xmpp_component.voicemail_text import caller_name, duration_text, time_text

MAX_LISTED = 20
ACTIONS = {
    "listen": "Listen (a link to the recording)",
    "call": "Call back",
    "read": "Mark read",
    "delete": "Delete",
}
# Chat words for each action ("voicemail play 2" works as well as "voicemail listen 2").
ACTION_WORDS = {
    "listen": "listen",
    "play": "listen",
    "call": "call",
    "callback": "call",
    "read": "read",
    "delete": "delete",
    "del": "delete",
    "rm": "delete",
}
NEW_FOLDERS = ("new", "urgent")


class VoicemailCommand(Command):
    NAME = "Voicemail"
    NODE = "voicemail"
    CHAT_COMMAND = "voicemail"
    CHAT_ALIASES = ("vm",)
    CHAT_USAGE = "voicemail [listen|call|read|delete N]   your voicemail messages; N: its number in the list"

    def chat_prefill(self, args: str) -> dict[str, str]:
        words = args.split()
        if not words:
            return {}
        prefill = {"action": ACTION_WORDS.get(words[0].casefold(), words[0])}
        if len(words) > 1:
            prefill["entry"] = words[1]
        return prefill

    async def _messages(self, requester: Requester) -> list[VoicemailMessage]:
        """The requester's own mailbox, newest first (shared mailboxes they may read are left out)."""
        assert requester.person is not None  # PHONE_USER access
        try:
            messages = await self.services.pbx().calld.user_voicemail_messages(requester.person.wazo_uuid)
        except WazoError as error:
            raise CommandError(
                f"your voicemail cannot be read now ({error.error_id}); try again later"
            ) from None
        own = [m for m in messages if m.personal and m.voicemail_id is not None]
        return sorted(own, key=lambda m: (m.timestamp, m.message_id), reverse=True)[:MAX_LISTED]

    async def _names(self, requester: Requester, messages: list[VoicemailMessage]) -> dict[str, str]:
        """Each caller's name: the directory's, else the caller ID name the PBX got."""
        region = self.services.calls.default_region
        numbers = sorted({m.caller_number for m in messages if m.caller_number})
        found = await asyncio.gather(
            *(caller_name(self.services.directory, n, requester.jid, region) for n in numbers)
        )
        names = dict(zip(numbers, found, strict=True))
        return {m.message_id: names.get(m.caller_number) or m.caller_name for m in messages}

    def _who(self, message: VoicemailMessage, name: str) -> str:
        calls = self.services.calls
        if not message.caller_number:
            return name or "an unknown caller"
        shown = display_number(message.caller_number, calls.default_region, calls.extension_max_digits)
        return f"{name} ({shown})" if name and name != shown else shown

    def _label(self, message: VoicemailMessage, name: str) -> str:
        state = "New" if message.folder in NEW_FOLDERS else "Old"
        return (
            f"{state}: {self._who(message, name)}, {time_text(message.timestamp, self.services.zone)}, "
            f"{duration_text(message.duration_seconds)}"
        )

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        messages = await self._messages(requester)
        if not messages:
            return Done("You have no voicemail messages.")
        names = await self._names(requester, messages)
        action = prefill.get("action", "")
        if action:
            if action not in ACTIONS:
                return Done(
                    f"{describe(action)} is not something to do with a message: "
                    "use listen, call, read or delete (e.g. voicemail listen 1).",
                    level="error",
                )
            entry = prefill.get("entry", "")
            if not entry.isdigit() or not 1 <= int(entry) <= len(messages):
                return Done(
                    f"There is no message {describe(entry) or '(none given)'}: you have {len(messages)} "
                    "(type voicemail to see them).",
                    level="error",
                )
            message = messages[int(entry) - 1]
            return await self._act(requester, action, message.message_id, names.get(message.message_id, ""))
        new = sum(1 for m in messages if m.folder in NEW_FOLDERS)

        async def chosen(values: Values) -> Reply:
            message_id = values.get("message", "")
            if message_id not in names:
                raise FieldError("message", "pick one of your messages")
            return self._actions_form(requester, message_id, names[message_id], messages)

        return Form(
            "Voicemail",
            [
                Field(
                    "message",
                    "Message",
                    kind="list-single",
                    options=tuple(
                        Option(m.message_id, self._label(m, names[m.message_id]), m.caller_number)
                        for m in messages
                    ),
                    required=True,
                    value=messages[0].message_id,
                )
            ],
            chosen,
            instructions=(
                f"{new} new, {len(messages) - new} old, newest first. Pick one; in a chat you can also "
                "type: voicemail listen N, voicemail call N, voicemail read N, voicemail delete N."
            ),
        )

    def _actions_form(
        self, requester: Requester, message_id: str, name: str, messages: list[VoicemailMessage]
    ) -> Form:
        message = next(m for m in messages if m.message_id == message_id)

        async def chosen(values: Values) -> Reply:
            action = values.get("do", "")
            if action not in ACTIONS:
                raise FieldError("do", "pick one of the listed actions")
            return await self._act(requester, action, message_id, name)

        return Form(
            "Voicemail: what to do",
            [
                Field("summary", "Message", kind="fixed", value=self._label(message, name)),
                Field(
                    "do",
                    "Do",
                    kind="list-single",
                    options=tuple(Option(key, label) for key, label in ACTIONS.items()),
                    required=True,
                    value="listen",
                ),
            ],
            chosen,
            final=True,
        )

    async def _act(self, requester: Requester, action: str, message_id: str, name: str) -> Reply:
        assert requester.person is not None
        # Read the mailbox again: the message must be the requester's, and still there.
        message = next((m for m in await self._messages(requester) if m.message_id == message_id), None)
        if message is None or message.voicemail_id is None:
            return Done(
                "That message is not in your mailbox (deleted meanwhile, or not yours): nothing was done.",
                level="error",
            )
        what = (
            f"voicemail from {self._who(message, name)}, {time_text(message.timestamp, self.services.zone)}"
        )
        calld = self.services.pbx().calld
        try:
            if action == "listen":
                link = self.services.voicemail_link
                if link is None:
                    raise CommandError(
                        "listening needs the component's web links, which are off here ([http] in the "
                        "configuration); ask your administrator"
                    )
                return Done(f"Listen to the {what}: {link(message.message_id, requester.person.wazo_uuid)}")
            if action == "call":
                if not message.caller_number:
                    raise CommandError("this message has no caller number to call back")
                target = dial_target(self.services, message.caller_number, "do")
                return await place_call(self.services, requester, target, name)
            if action == "read":
                if message.folder not in NEW_FOLDERS:
                    return Done(f"Already read: {what}.")
                old = await calld.old_folder_id(message.voicemail_id)
                await calld.move_voicemail_message(message.voicemail_id, message.message_id, old)
                return Done(f"Marked read: {what}.")
            await calld.delete_voicemail_message(message.voicemail_id, message.message_id)
            return Done(f"Deleted: {what}.")
        except WazoError as error:
            raise CommandError(f"the phone system refused ({error.error_id}); nothing was changed") from None
