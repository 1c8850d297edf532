"""Click-to-call on a contact: each phone JID (``bob@phone.example.org``) offers "Call Bob Brown".

- XEP-0050 on the phone JID: its disco#items on the commands node list "Call <name>", and running
  it gives the confirmation (one number) or a pick list of the colleague's numbers.
- Chat: the message ``call`` sent to the phone JID calls the colleague at once (the typed word
  is the confirmation), on their first number (the desk extension), naming the others. Like the
  chat to the component, it counts against the user's calls per minute (``place_call``) and the
  sender's messages per minute (beyond which they get no answer).

Only users allowed to see that phone JID (the privacy rules) are offered or served anything.

slixmpp: commands and disco items are looked up per (JID, node) in registries meant for fixed
JIDs; phone JIDs are as many as the users, so a global handler answers for every phone JID and
passes anything else to the handler that was there before.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0030.stanza.items import DiscoItems

from presence.directory import DirectoryEntry
from xmpp_component.commands import runner
from xmpp_component.commands.adhoc import COMMANDS_NS, AdhocAdapter
from xmpp_component.commands.base import Done, FieldError, Reply, Requester, Values
from xmpp_component.commands.call import CallCommand, entry_label
from xmpp_component.commands.chat import MESSAGES_PER_MINUTE
from xmpp_component.commands.dialing import dial_target, place_call
from xmpp_component.commands.links import call_link
from xmpp_component.commands.ratelimit import RateLimiter

log = logging.getLogger(__name__)

NODE = "call"
Entries = Callable[[str], list[DirectoryEntry]]  # phone JID localpart -> the colleague's numbers
MaySee = Callable[[str, str], bool]  # (localpart, requester bare JID) -> allowed


class ContactCallCommand(CallCommand):
    """The Call command bound to one colleague (``prefill["contact"]``: their localpart)."""

    CHAT_COMMAND = ""  # reached through the phone JID, not the component's own commands

    def __init__(self, services: Any, entries: Entries) -> None:
        super().__init__(services)
        self.entries = entries

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        found = self.entries(prefill.get("contact", ""))
        if not found:
            return Done("This contact has no number to call.", level="error")
        name = found[0].name
        return self._choose(requester, found, f"Call {name}: pick a number.", [])


class ContactCommands:
    def __init__(
        self, adhoc: AdhocAdapter, entries: Entries, may_see: MaySee, flood: RateLimiter | None = None
    ) -> None:
        self.adhoc = adhoc
        self.xmpp = adhoc.xmpp
        self.services = adhoc.services
        self.entries = entries
        self.may_see = may_see
        # The chat adapter's limiter when given: one messages-per-minute budget per sender.
        self.flood = flood if flood is not None else RateLimiter(MESSAGES_PER_MINUTE, 60.0)
        self.command = ContactCallCommand(self.services, entries)
        self._installed = False
        self.register()
        self.xmpp.add_event_handler("message", self._on_message)

    def _contact(self, jid: Any) -> str:
        """The localpart when ``jid`` is one of our phone JIDs, else ''."""
        if jid is None or not jid.user or jid.domain != self.xmpp.boundjid.domain:
            return ""
        return str(jid.user).lower()

    def _allowed(self, contact: str, requester: Requester) -> bool:
        return requester.local and requester.person is not None and self.may_see(contact, requester.jid)

    # --- XEP-0050 ------------------------------------------------------------------------------

    def register(self, _event: Any = None) -> None:
        if self._installed:
            return
        self._installed = True
        commands_api = self.xmpp.plugin["xep_0050"].api
        disco_api = self.xmpp.plugin["xep_0030"].api
        previous_command = commands_api.api._handlers["xep_0050"]["get_command"]["global"]
        previous_items = disco_api.api._handlers["xep_0030"]["get_items"]["global"]

        # The handlers before ours may be coroutine functions (slixmpp's own get_command is):
        # ours are coroutines too, and await what the previous one gives when it is awaitable.
        async def get_command(jid: Any, node: Any, ifrom: Any, args: Any) -> Any:
            contact = self._contact(jid)
            if contact and node == NODE:
                return (f"Call {contact}", self._execute, None, 0)
            result = previous_command(jid, node, ifrom, args)
            return await result if inspect.isawaitable(result) else result

        async def get_items(jid: Any, node: Any, ifrom: Any, args: Any) -> Any:
            contact = self._contact(jid)
            if contact and node == COMMANDS_NS:
                return self._items(jid, contact, ifrom)
            result = previous_items(jid, node, ifrom, args)
            return await result if inspect.isawaitable(result) else result

        commands_api.register(get_command, "get_command")
        disco_api.register(get_items, "get_items")

    def _items(self, jid: Any, contact: str, ifrom: Any) -> DiscoItems:
        items = DiscoItems()
        requester = self.services.requester(str(ifrom))
        found = self.entries(contact) if self._allowed(contact, requester) else []
        if found:
            items.add_item(jid.full, node=NODE, name=f"Call {found[0].name}")
        return items

    async def _execute(self, iq: Any, session: dict[str, Any]) -> dict[str, Any]:
        requester = self.services.requester(str(iq["from"]))
        contact = self._contact(iq["to"])
        if not self._allowed(contact, requester) or not self.entries(contact):
            raise XMPPError("item-not-found", text="No such contact.")
        session["pp_action"] = "execute"
        session["pp_stack"] = []
        reply = await runner.start(self.command, requester, {"contact": contact})
        return self.adhoc._render(session, reply)

    # --- chat ----------------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        if msg["type"] not in ("chat", "normal"):
            return
        contact = self._contact(msg["to"])
        body = " ".join(str(msg["body"] or "").split()).casefold()
        if not contact or body not in ("call", "dial"):
            return  # anything else sent to a phone JID is not a command
        if self.flood.acquire(msg["from"].bare) is not None:
            # As the chat to the component: past the limit a sender is a runaway client or a bot
            # answering our answers; silence ends the loop (and each "call" would dial).
            log.debug(
                "dropping a call message from %s: over %d per minute", msg["from"].bare, MESSAGES_PER_MINUTE
            )
            return
        requester = self.services.requester(str(msg["from"]))
        if not self._allowed(contact, requester):
            return  # say nothing: the phone JID does not exist for them
        text = await self._call(requester, contact)
        self.xmpp.send_message(mto=msg["from"], mbody=text, mtype="chat", mfrom=msg["to"].bare)

    async def _call(self, requester: Requester, contact: str) -> str:
        found = self.entries(contact)
        if not found:
            return "Sorry: this contact has no number to call."
        first, others = found[0], found[1:]

        async def dial() -> Reply:
            try:
                target = dial_target(self.services, first.number)
            except FieldError as error:  # a number in the PBX that cannot be dialled
                return Done(f"{first.number!r}: {error.message}", level="error")
            return await place_call(self.services, requester, target, first.name)

        reply = await runner.guarded(dial, "contact call")
        assert isinstance(reply, Done)
        lines = [reply.text if reply.level != "error" else f"Sorry: {reply.text}"]
        for entry in others:
            try:
                link = call_link(self.services.component_jid, dial_target(self.services, entry.number).dial)
            except FieldError:
                link = ""
            lines.append(f"Other number: {entry_label(entry)}  {link}".rstrip())
        return "\n".join(lines)
