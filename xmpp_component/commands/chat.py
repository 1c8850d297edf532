"""The chat face: the same commands as text sent to the component's bare domain.

``call bob`` / ``call 1002`` / ``hangup`` / ``call back`` / ``help``; a question (a pick list, a
missing value) is answered by the next message ("2", "yes", or "cancel"). A confirmation is skipped
when the user typed the command themselves: the message is the confirmation, except for a form that
must ask (``ask_in_chat``: a name found in LDAP or an address book), which waits for "yes" (dials)
or "no" (cancels) at most :data:`CONFIRM_TTL` seconds; anything else asks again, another command
replaces the question. Replies are plain text;
every number mentioned comes with an ``xmpp:...?command;node=call;number=...`` link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from presence.phone_numbers import DialInputError, parse_number
from xmpp_component.commands import runner
from xmpp_component.commands.base import Command, Done, Form, Reply, Requester, refusal
from xmpp_component.commands.links import call_link
from xmpp_component.commands.ratelimit import RateLimiter
from xmpp_component.commands.services import CommandServices

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 500
MESSAGES_PER_MINUTE = 30
PENDING_TTL = 600.0
# A call to a name found in a directory waits less for its yes: a yes long after the question
# would dial someone the user no longer has in mind.
CONFIRM_TTL = 120.0
YES = frozenset({"yes", "y", "ok", "oui", "go"})
CANCEL = frozenset({"cancel", "no", "n", "stop", "non"})


@dataclass
class _Pending:
    form: Form
    since: float

    @property
    def ttl(self) -> float:
        return CONFIRM_TTL if self.form.ask_in_chat else PENDING_TTL


class ChatAdapter:
    def __init__(
        self,
        xmpp: Any,
        services: CommandServices,
        commands: list[Command],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.xmpp = xmpp
        self.services = services
        self.commands = [c for c in commands if c.CHAT_COMMAND]
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        # Per sender, for every chat message the component answers (the contact commands on the
        # phone JIDs share it): one budget, whichever of our addresses a runaway client writes to.
        self.flood = RateLimiter(MESSAGES_PER_MINUTE, 60.0, clock)
        # Longest first, so that "call back" wins over "call".
        words = [(w, c) for c in self.commands for w in (c.CHAT_COMMAND or "", *c.CHAT_ALIASES)]
        self._words = sorted(words, key=lambda pair: -len(pair[0]))
        xmpp.add_event_handler("message", self._on_message)

    async def _on_message(self, msg: Any) -> None:
        if msg["type"] not in ("chat", "normal"):
            return
        if msg["to"].user or msg["to"].domain != self.xmpp.boundjid.domain:
            return  # messages to alice@phone... are not commands
        body = msg["body"]
        if not body or not body.strip():
            return  # chat states, receipts
        if self.flood.acquire(msg["from"].bare) is not None:
            # Beyond this a sender is a runaway client or another bot answering our answers:
            # stay silent rather than feed the loop.
            log.debug("dropping a message from %s: over %d per minute", msg["from"].bare, MESSAGES_PER_MINUTE)
            return
        text = await self.handle(str(msg["from"]), body)
        self.xmpp.send_message(mto=msg["from"], mbody=text, mtype="chat", mfrom=self.xmpp.boundjid)

    def _match(self, text: str) -> tuple[Command | None, str]:
        folded = text.casefold()
        for word, command in self._words:
            if folded == word or folded.startswith(word + " "):
                return command, text[len(word) :].strip()
        return None, text

    async def handle(self, jid: str, text: str) -> str:
        """The reply to one message from ``jid``."""
        text = " ".join(text.split())
        requester = self.services.requester(jid)
        key = requester.jid
        if not requester.local:
            return "Sorry, this service is only for users of this company's chat domains."
        if len(text) > MAX_MESSAGE_LENGTH:
            return f"Sorry, that message is too long ({len(text)} characters, at most {MAX_MESSAGE_LENGTH})."
        pending = self._pending.pop(key, None)
        expired = pending is not None and self._clock() - pending.since > pending.ttl
        if expired:
            pending = None
        if text.casefold() in CANCEL:
            return "Cancelled: nothing was done." if pending else "There is nothing to cancel."
        command, args = self._match(text)
        if command is not None:
            return await self._start(requester, command, args)
        if pending is not None:
            return await self._answer(requester, pending, text)
        if expired:
            return "That question has expired: nothing was done. Send the command again."
        first = text.split(" ", 1)[0][:30]
        return f"I don't know {first!r}. Type help for the list of commands."

    async def _start(self, requester: Requester, command: Command, args: str) -> str:
        prefill = command.chat_prefill(args) if refusal(command.ACCESS, requester) is None else {}
        reply = await runner.start(command, requester, prefill)
        if isinstance(reply, Form) and reply.confirmation and not reply.notes and not reply.ask_in_chat:
            reply, _refused = await runner.submit(reply, self._defaults(reply))
        return self._render(requester, reply)

    async def _answer(self, requester: Requester, pending: _Pending, text: str) -> str:
        form = pending.form
        values = self._defaults(form)
        choices = [f for f in form.fields if f.kind == "list-single"]
        free = [f for f in form.fields if f.kind == "text-single"]
        if choices:
            options = choices[0].options
            if not (text.isdigit() and 1 <= int(text) <= len(options)):
                self._keep(requester, form, pending.since)
                return f"Reply with a number from 1 to {len(options)}, or cancel."
            values[choices[0].var] = options[int(text) - 1].value
        elif free:
            values[free[0].var] = text
        elif text.casefold() not in YES:
            self._keep(requester, form, pending.since)
            return "Reply yes to call, or no." if form.ask_in_chat else "Reply yes to go ahead, or cancel."
        reply, _refused = await runner.submit(form, values)
        return self._render(requester, reply)

    @staticmethod
    def _defaults(form: Form) -> dict[str, str]:
        return {f.var: f.value for f in form.fields if f.kind in ("hidden", "fixed", "text-single")}

    def _keep(self, requester: Requester, form: Form, since: float | None = None) -> None:
        """The question waits for its answer; asked again after a reply that was not one, it
        keeps the time it was first asked (its expiry is about the question, not the chatter)."""
        self._pending[requester.jid] = _Pending(form, self._clock() if since is None else since)

    def _link(self, number: str) -> str:
        calls = self.services.calls
        try:
            dial = parse_number(number, calls.default_region, calls.extension_max_digits).dial
        except DialInputError:
            return ""
        return call_link(self.services.component_jid, dial)

    def _render(self, requester: Requester, reply: Reply) -> str:
        if isinstance(reply, Done):
            lines = [reply.text if reply.level != "error" else f"Sorry: {reply.text}"]
            for number in reply.numbers:
                link = self._link(number)
                if link:
                    lines.append(f"Call {number} again: {link}  (or type: call {number})")
            return "\n".join(lines)
        self._keep(requester, reply)
        lines = [text for _level, text in reply.notes]
        if reply.instructions:
            lines.append(reply.instructions)
        choices = [f for f in reply.fields if f.kind == "list-single"]
        free = [f for f in reply.fields if f.kind == "text-single"]
        fixed = [f.value for f in reply.fields if f.kind == "fixed" and f.value]
        lines.extend(fixed)
        if choices:
            for index, option in enumerate(choices[0].options, 1):
                link = self._link(option.number) if option.number else ""
                lines.append(f"{index}. {option.label}" + (f"  {link}" if link else ""))
            lines.append(f"Reply with a number from 1 to {len(choices[0].options)}, or cancel.")
        elif free:
            hint = f" ({free[0].desc})" if free[0].desc else ""
            lines.append(f"{free[0].label}?{hint} Reply with it, or cancel.")
        elif reply.ask_in_chat and lines:
            lines[-1] += " (yes/no)"  # the question ("Call ... at ...?") is the last line
        else:
            lines.append("Reply yes to go ahead, or cancel.")
        return "\n".join(lines)
