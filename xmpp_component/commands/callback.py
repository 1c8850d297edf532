""" "Call back": the callers of the requester's voicemail messages, then the last caller.

The order is a promise (chat text ``call back N`` picks the N-th entry): voicemail messages come
first, newest first, so ``call back 1`` right after a voicemail notice calls that caller. Whatever
later feeds this list (a call history) must keep that property.
"""

from __future__ import annotations

import time

from presence.phone_numbers import display_number
from presence.sources.wazo.errors import WazoError
from xmpp_component.commands.base import (
    Command,
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

MAX_MESSAGES = 10


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


class CallBackCommand(Command):
    NAME = "Call back"
    NODE = "callback"
    CHAT_COMMAND = "callback"
    CHAT_ALIASES = ("call back",)
    CHAT_USAGE = "call back [N]   voicemail callers (newest first), then your last caller; N calls the N-th"

    def chat_prefill(self, args: str) -> dict[str, str]:
        return {"entry": args.strip()} if args.strip() else {}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        assert requester.person is not None  # PHONE_USER access
        region = self.services.calls.default_region
        options: list[tuple[str, str, str]] = []  # (number, label, name)
        try:
            messages = await self.services.pbx().calld.user_voicemail_messages(requester.person.wazo_uuid)
        except WazoError as error:
            messages = []
            note = f"voicemail messages cannot be read now ({error.error_id})"
        else:
            note = ""
        newest_first = sorted(messages, key=lambda m: (m.timestamp, m.message_id), reverse=True)
        for message in newest_first[:MAX_MESSAGES]:
            if not message.caller_number:
                continue
            shown = display_number(message.caller_number, region)
            who = message.caller_name or shown
            when = time.strftime("%d %b %H:%M", time.localtime(message.timestamp))
            label = f"Voicemail from {who} ({shown}), {_duration(message.duration_seconds)}, {when}"
            options.append((message.caller_number, label, who))
        last = self.services.last_callers.get(requester.person.wazo_uuid)
        if last is not None:
            who = last.name or display_number(last.number, region)
            options.append((last.number, f"Last caller: {who} ({display_number(last.number, region)})", who))
        if not options:
            return Done(
                "No one to call back: no recent caller and no voicemail with a number"
                + (f" ({note})" if note else "")
                + ".",
                level="warn" if note else "info",
            )
        # One row per number, first (most recent) wins; values are indexes so that the same
        # number from the last call and a voicemail does not make two identical options.
        seen: set[str] = set()
        rows = []
        for number, label, who in options:
            if number not in seen:
                seen.add(number)
                rows.append((number, label, who))

        async def chosen(values: Values) -> Reply:
            index = values.get("caller", "")
            if not index.isdigit() or not 0 <= int(index) < len(rows):
                raise FieldError("caller", "pick one of the listed callers")
            number, _label, who = rows[int(index)]
            return await place_call(
                self.services, requester, dial_target(self.services, number, "caller"), who
            )

        entry = prefill.get("entry", "")
        if entry:
            if not entry.isdigit() or not 1 <= int(entry) <= len(rows):
                return Done(
                    f"There is no entry {describe(entry)} in your Call back list: "
                    f"choose from 1 to {len(rows)} (type call back to see it).",
                    level="error",
                )
            rows = [rows[int(entry) - 1]]
        if len(rows) == 1:
            return Form(
                "Call back: confirm",
                [
                    Field("summary", "Call back", kind="fixed", value=f"Call back {rows[0][1]}?"),
                    Field("caller", "Caller", kind="hidden", value="0"),
                ],
                chosen,
                final=True,
                confirmation=True,
            )
        form = Form(
            "Call back",
            [
                Field(
                    "caller",
                    "Who",
                    kind="list-single",
                    options=tuple(Option(str(i), label, n) for i, (n, label, _w) in enumerate(rows)),
                    required=True,
                    value="0",
                )
            ],
            chosen,
            instructions="Your own phone rings first; the call goes out when you pick up.",
            final=True,
        )
        if note:
            form.notes.append(("warn", note))
        return form
