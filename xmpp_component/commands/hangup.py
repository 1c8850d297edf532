""" "Hang up": the requester's own current calls (calld), and end the chosen one."""

from __future__ import annotations

from presence.model import Call, CallStatus
from presence.phone_numbers import display_number
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
)

_STATUS = {
    CallStatus.RINGING: "ringing",
    CallStatus.PROGRESSING: "calling",
    CallStatus.UP: "talking",
    CallStatus.HELD: "on hold",
}


class HangupCommand(Command):
    NAME = "Hang up"
    NODE = "hangup"
    CHAT_COMMAND = "hangup"
    CHAT_ALIASES = ("hang up",)
    CHAT_USAGE = "hangup   ends your current call (or lists them when you have several)"
    PREFILL = "call"

    def call_label(self, call: Call) -> str:
        peer = (
            display_number(call.peer_number, self.services.calls.default_region) if call.peer_number else ""
        )
        name = call.peer_name if call.peer_name not in ("", call.peer_number, peer) else ""
        who = (f"{name} ({peer})" if peer else name) if name else (peer or "unknown")
        direction = "outgoing" if call.is_caller else "incoming"
        return f"{who}, {direction}, {_STATUS.get(call.status, call.status.value)}"

    async def _own_calls(self, requester: Requester, call_id: str = "") -> list[Call]:
        """The requester's current calls: the tracker's when the Wazo event stream is live, else
        calld's (its tenant-wide list, filtered).

        calld is also asked when the tracker has no call (or not ``call_id``): a call placed a
        moment ago may not have reached the event stream yet, and that rare case is worth a request.
        """
        assert requester.person is not None  # PHONE_USER access
        tracked = self.services.tracked_calls
        known = tracked(requester.person.wazo_uuid) if tracked is not None else None
        if known and (not call_id or any(c.call_id == call_id for c in known)):
            return list(known)
        try:
            return await self.services.pbx().calld.list_user_calls(requester.person.wazo_uuid)
        except WazoError as error:
            raise CommandError(f"your calls cannot be read now ({error.error_id})") from None

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        if prefill.get("call"):
            return await self._hang_up(requester, prefill["call"])
        calls = await self._own_calls(requester)
        if not calls:
            return Done("You have no call in progress.")

        async def chosen(values: Values) -> Reply:
            return await self._hang_up(requester, values.get("call", ""))

        if len(calls) == 1:
            return Form(
                "Hang up: confirm",
                [
                    Field("summary", "Call", kind="fixed", value=f"Hang up {self.call_label(calls[0])}?"),
                    Field("call", "Call", kind="hidden", value=calls[0].call_id),
                ],
                chosen,
                final=True,
                confirmation=True,
            )
        return Form(
            "Hang up",
            [
                Field(
                    "call",
                    "Call",
                    kind="list-single",
                    options=tuple(Option(c.call_id, self.call_label(c), c.peer_number) for c in calls),
                    required=True,
                )
            ],
            chosen,
            instructions="Which call do you want to end?",
            final=True,
        )

    async def _hang_up(self, requester: Requester, call_id: str) -> Reply:
        if not call_id.strip():
            raise FieldError("call", "is empty: pick one of your calls")
        if len(call_id) > 128:
            raise FieldError("call", "is too long to be a call id")
        # Only the requester's own calls, read again now: a submitted id may be forged or stale.
        mine = {c.call_id: c for c in await self._own_calls(requester, call_id)}
        call = mine.get(call_id)
        if call is None:
            raise CommandError("call: that call is not one of your current calls (it may have ended)")
        try:
            await self.services.pbx().calld.hangup(call_id)
        except WazoError as error:
            if error.status == 404:
                return Done("That call had already ended.")
            raise CommandError(f"the phone system could not hang up ({error.error_id})") from None
        return Done(f"Hung up: {self.call_label(call)}.")
