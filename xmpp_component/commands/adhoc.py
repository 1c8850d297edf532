"""The XEP-0050 face: commands as ad-hoc nodes with XEP-0004 forms, listed per requester.

slixmpp: ``XEP_0050.session_bind`` empties the commands node's disco#items, and a session (its
id) is not bound to whoever started it. So, on every ``session_start``, the commands are added
again and the commands node gets our own ``get_items`` handler that lists only what the requester
may run; and every command IQ goes through :meth:`AdhocAdapter._guard`, which refuses a session
continued by another JID before slixmpp's own handler sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slixmpp import JID
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form as XForm
from slixmpp.plugins.xep_0030.stanza.items import DiscoItems

from xmpp_component.commands import runner
from xmpp_component.commands.base import Access, Command, Done, Form, Reply, visible
from xmpp_component.commands.services import CommandServices

log = logging.getLogger(__name__)

SESSION_TIMEOUT = 600.0  # seconds; same as a pending chat question

COMMANDS_NS = "http://jabber.org/protocol/commands"


def form_values(payload: Any) -> dict[str, str]:
    """The submitted values of a data form (or of the first form of a list), as strings."""
    forms = payload if isinstance(payload, list) else [payload]
    for item in forms:
        if isinstance(item, XForm):
            values = {}
            submitted = item.get_values()  # type: ignore[no-untyped-call]
            for var, value in submitted.items():
                if isinstance(value, list):
                    value = value[0] if value else ""
                values[str(var)] = "" if value is None else str(value)
            return values
    return {}


class AdhocAdapter:
    def __init__(
        self,
        xmpp: Any,
        services: CommandServices,
        commands: list[Command],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.xmpp = xmpp
        self.services = services
        self.commands = [c for c in commands if c.NODE]
        self._clock = clock
        self._guard_installed = False
        xmpp.add_event_handler("session_start", self.register)

    # --- registration ----------------------------------------------------------------------------

    def register(self, _event: Any = None) -> None:
        xep_0050 = self.xmpp.plugin["xep_0050"]
        if not self._guard_installed:
            self.xmpp.del_event_handler("command", xep_0050._handle_command_all)
            self.xmpp.add_event_handler("command", self._guard)
            self._guard_installed = True
        for command in self.commands:
            # slixmpp: no `timeout=` here. Its expiry sends a cancel *from the user's JID*, which
            # Prosody answers by closing our stream (invalid-from); _forget_old_sessions expires
            # sessions instead.
            xep_0050.add_command(node=command.NODE, name=command.NAME, handler=self._starter(command))
        self.xmpp.plugin["xep_0030"].set_node_handler(
            "get_items", jid=self.xmpp.boundjid, node=COMMANDS_NS, handler=self._items
        )

    def _items(self, _jid: Any, _node: Any, ifrom: Any, _data: Any) -> DiscoItems:
        requester = self.services.requester(str(ifrom))
        items = DiscoItems()
        for command in self.commands:
            if visible(command.ACCESS, requester):
                items.add_item(self.xmpp.boundjid.full, node=command.NODE, name=command.NAME)
        return items

    async def _guard(self, iq: Any) -> None:
        xep_0050 = self.xmpp.plugin["xep_0050"]
        sessionid = iq["command"]["sessionid"]
        session = xep_0050.sessions.get(sessionid)
        if session is None and sessionid and iq["command"]["action"] not in ("", "execute"):
            # slixmpp would trip over the missing session and answer feature-not-implemented.
            raise XMPPError("item-not-found", text="This command session has ended; run the command again.")
        if session is not None:
            if JID(session["from"]) != JID(iq["from"]):
                log.warning("%s tried to continue an ad-hoc session of someone else", iq["from"])
                raise XMPPError("forbidden", text="This command session belongs to someone else.")
            session["pp_action"] = iq["command"]["action"]
        try:
            await xep_0050._handle_command_all(iq)
        finally:
            self._forget_old_sessions(xep_0050.sessions)

    def _forget_old_sessions(self, sessions: dict[str, Any]) -> None:
        """slixmpp keeps every session, finished or abandoned, for ever: drop those that are over.

        Runs after each command request, so the table holds only live sessions plus at most the
        forms left open in clients for less than SESSION_TIMEOUT.
        """
        now = self._clock()
        for sid, session in list(sessions.items()):
            started = session.setdefault("pp_started", now)
            if session.get("next") is None or now - started > SESSION_TIMEOUT:
                del sessions[sid]

    # --- steps -----------------------------------------------------------------------------------

    def _starter(self, command: Command) -> Any:
        async def execute(iq: Any, session: dict[str, Any]) -> dict[str, Any]:
            requester = self.services.requester(str(iq["from"]))
            if not requester.local and command.ACCESS is not Access.ADMIN:
                raise XMPPError("forbidden", text="This service is only for users of this company's domains.")
            if command.ACCESS is Access.ADMIN and not requester.admin:
                # Unlisted for them, but a client may still execute the node by name.
                log.warning("%s tried to run the admin command %s", requester.jid, command.NODE)
                self.services.count_command(command.NAME, "refused")
                raise XMPPError("forbidden", text="Only the service's administrators may run this command.")
            session["pp_action"] = "execute"
            session["pp_stack"] = []
            # A link such as xmpp:phone?command;node=call;number=1002 reaches us as a form field of
            # the execute request, when the client passes it at all.
            prefill = form_values(session.get("payload"))
            reply = await runner.start(command, requester, prefill)
            return self._render(session, reply)

        return execute

    async def _next(self, payload: Any, session: dict[str, Any]) -> dict[str, Any]:
        form: Form = session["pp_form"]
        reply, refused = await runner.submit(form, form_values(payload))
        completing = session.get("pp_action") == "complete"
        if isinstance(reply, Form) and completing:
            # slixmpp ends the session on "complete" whatever we answer: say why it did not happen.
            notes = [text for level, text in reply.notes if level == "error"]
            reply = Done(notes[0] if notes else "This command needs another step: use Next.", "error")
        if refused:
            return self._render(session, reply)  # the same form again, with the error note
        session["pp_stack"].append(form)
        return self._render(session, reply)

    async def _prev(self, _payload: Any, session: dict[str, Any]) -> dict[str, Any]:
        stack: list[Form] = session["pp_stack"]
        if not stack:
            return self._render(session, session["pp_form"])
        return self._render(session, replace(stack.pop(), notes=[]))

    def _cancel(self, _iq: Any, session: dict[str, Any]) -> None:
        session["notes"] = [("info", "Cancelled: nothing was done.")]

    def _render(self, session: dict[str, Any], reply: Reply) -> dict[str, Any]:
        session["cancel"] = self._cancel
        if isinstance(reply, Done):
            session.update(payload=None, next=None, has_next=False, allow_prev=False, prev=None)
            session["notes"] = [(reply.level, reply.text)]
            return session
        session["pp_form"] = reply
        session["payload"] = self._xform(reply)
        session["next"] = self._next
        session["has_next"] = not reply.final
        session["allow_complete"] = False
        session["allow_prev"] = bool(session["pp_stack"])
        session["prev"] = self._prev if session["pp_stack"] else None
        session["notes"] = list(reply.notes) or None
        return session

    def _xform(self, form: Form) -> XForm:
        xform: XForm = self.xmpp.plugin["xep_0004"].make_form(
            ftype="form", title=form.title, instructions=form.instructions
        )
        for f in form.fields:
            options = [{"label": o.label, "value": o.value} for o in f.options] or None
            xform.add_field(  # type: ignore[no-untyped-call]
                var=f.var,
                ftype=f.kind,
                label=f.label,
                desc=f.desc,
                required=f.required,
                value=f.value or None,
                options=options,
            )
        return xform
