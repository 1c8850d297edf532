""" "Call back": the newest caller, or the N-th call of the Recent calls list (``call back 2``).

Both come from the persistent call history (:mod:`xmpp_component.call_history`): incoming,
missed, voicemail and outgoing calls learnt from Wazo's call events, numbered as ``calls`` shows
them (newest first, from 1). Without a choice the ad-hoc form lists them.
"""

from __future__ import annotations

from presence.call_history import latest_caller
from xmpp_component.commands.base import Command, CommandError, Done, Field, Form, Reply, Requester, Values
from xmpp_component.commands.recent_calls import ENTRY, NO_CALLS, SHOWN, call_back, pick_form, recent

LATEST = "latest"


class CallBackCommand(Command):
    NAME = "Call back"
    NODE = "callback"
    CHAT_COMMAND = "callback"
    CHAT_ALIASES = ("call back",)
    CHAT_USAGE = "call back   calls your last caller; call back 2: the 2nd of your recent calls"
    PREFILL = ENTRY

    def chat_prefill(self, args: str) -> dict[str, str]:
        return {ENTRY: args.strip() or LATEST}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        entries = await recent(self.services, requester)
        choice = prefill.get(ENTRY, "").strip().lower()
        if not choice:
            if not entries:
                return Done(NO_CALLS)
            return pick_form(self.services, requester, entries, "Call back")
        if choice == LATEST:
            index = latest_caller(entries)
            if index is None:
                return Done("No one to call back: no incoming call with a number in your recent calls.")
        elif choice.isdigit() and 1 <= int(choice) <= SHOWN:
            index = int(choice) - 1
            if index >= len(entries):
                raise CommandError(
                    f"there is no call {choice} in your recent calls (you have {len(entries)}; type calls)"
                )
        else:
            raise CommandError(f"say call back, or call back 1 to {SHOWN} (the row of your recent calls)")
        entry = entries[index]
        history = self.services.history
        assert history is not None  # recent() checked it
        label = history.label(entry)

        async def confirmed(_values: Values) -> Reply:
            return await call_back(self.services, requester, entry)

        return Form(
            "Call back: confirm",
            [Field("summary", "Call back", kind="fixed", value=f"Call back: {label}?")],
            confirmed,
            final=True,
            confirmation=True,
        )
