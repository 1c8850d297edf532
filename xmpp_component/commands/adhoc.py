"""The XEP-0050 face: commands as ad-hoc nodes with XEP-0004 forms, listed per requester.

slixmpp: ``XEP_0050.session_bind`` empties the commands node's disco#items, and a session (its
id) is not bound to whoever started it. So, on every ``session_start``, the commands are added
again (slixmpp keeps their disco entries and its per-JID command registry, which the contact
commands extend) and the commands node gets our own ``get_items`` handler that lists only what
the requester may run.

The command IQs themselves are served here, not by slixmpp's XEP-0050 handler: a session
belongs to the full JID that started it (another JID continuing it is refused), and each answer
is written as text straight from the :class:`~.base.Reply`. slixmpp's path (the request copied
for the reply, the form built as stanza objects, then serialised again) cost more CPU than the
command itself on a click-to-call. The component hands command IQs over as parsed XML, before
slixmpp builds stanza objects and matches them against its handlers (see
``PhoneComponent._spawn_event``), and the answers of one loop iteration go out in one write.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp import JID
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0030.stanza.items import DiscoItems
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import StanzaPath
from slixmpp.xmlstream.xmlstream import NotConnectedError

from xmpp_component.commands import runner
from xmpp_component.commands.base import Access, Command, Done, Form, Reply, visible
from xmpp_component.commands.services import CommandServices

log = logging.getLogger(__name__)

SESSION_TIMEOUT = 600.0  # seconds; same as a pending chat question
SESSION_SWEEP = 10.0  # seconds between two looks for abandoned sessions
# Open sessions per user (bare JID): a client starting forms in a loop ends its own oldest ones
# instead of growing the table for SESSION_TIMEOUT each.
MAX_OPEN_SESSIONS = 20

COMMANDS_NS = "http://jabber.org/protocol/commands"
DATA_NS = "jabber:x:data"
_HANDLER = "phonepresence ad-hoc commands"
# What a step handler is given: the request and the session (slixmpp's command handler shape,
# which the contact commands registered through slixmpp's registry also have).
StepStarter = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]


def form_values(command: Element | None) -> dict[str, str]:
    """The submitted values of the first data form in a command element, as strings."""
    form = command.find(f"{{{DATA_NS}}}x") if command is not None else None
    if form is None:
        return {}
    values = {}
    for field in form.iter(f"{{{DATA_NS}}}field"):
        var = field.get("var")
        if var:
            value = field.find(f"{{{DATA_NS}}}value")
            values[var] = (value.text or "") if value is not None else ""
    return values


# Characters XML 1.0 does not allow at all, not even as references: one in the text we send is a
# not-well-formed stream, and the server closes the component's connection (everyone's commands
# and presence). Names from Wazo, LDAP or an address book may hold them (pasted control codes).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Any character escape() changes: most texts (ids, JIDs, labels) have none, and one search is
# cheaper than the substitution and seven replaces.
_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def escape(text: str) -> str:
    """Text for XML character data or a double-quoted attribute (line breaks kept as such);
    characters XML cannot carry become U+FFFD."""
    if _SPECIAL.search(text) is None:
        return text
    return (
        _NOT_XML.sub("\ufffd", text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value)}"'


def form_xml(form: Form) -> str:
    """The form as an XEP-0004 ``<x type="form">`` element, as text."""
    out = [f'<x xmlns="{DATA_NS}" type="form">']
    if form.title:
        out.append(f"<title>{escape(form.title)}</title>")
    if form.instructions:
        out.append(f"<instructions>{escape(form.instructions)}</instructions>")
    for f in form.fields:
        out.append(f"<field{_attr('var', f.var)}{_attr('type', f.kind)}{_attr('label', f.label)}>")
        if f.desc:
            out.append(f"<desc>{escape(f.desc)}</desc>")
        if f.required:
            out.append("<required/>")
        if f.value:
            out.append(f"<value>{escape(f.value)}</value>")
        for o in f.options:
            out.append(f"<option{_attr('label', o.label)}><value>{escape(o.value)}</value></option>")
        out.append("</field>")
    out.append("</x>")
    return "".join(out)


def _bad_action(text: str) -> XMPPError:
    """XEP-0050 4.6: an action the responder understands but cannot accept now (one the current
    step does not offer): bad-request, type modify, with <bad-action/>."""
    return XMPPError(
        "bad-request", text=text, etype="modify", extension="bad-action", extension_ns=COMMANDS_NS
    )


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
        self._starters: dict[str, StepStarter] = {c.NODE: self._starter(c) for c in self.commands if c.NODE}
        self._clock = clock
        self._handler_installed = False
        self._session_ids = 0
        self._open: dict[str, list[str]] = {}  # bare JID -> its sessions' ids, oldest first
        self._next_sweep = clock()
        self._tasks: set[asyncio.Task[None]] = set()  # the IQs being served (kept referenced)
        self._out: list[str] = []  # answers written at the end of this loop iteration
        xmpp.add_event_handler("session_start", self.register)

    @property
    def sessions(self) -> dict[str, Any]:
        # slixmpp's own table, so that whatever inspects it (tests) sees the live sessions.
        sessions: dict[str, Any] = self.xmpp.plugin["xep_0050"].sessions
        return sessions

    # --- registration ----------------------------------------------------------------------------

    def register(self, _event: Any = None) -> None:
        xep_0050 = self.xmpp.plugin["xep_0050"]
        if not self._handler_installed:
            self.xmpp.remove_handler("Ad-Hoc Execute")
            self.xmpp.del_event_handler("command", xep_0050._handle_command_all)
            # The component hands command IQs to _route before slixmpp builds stanza objects;
            # the handler serves them when it does not (a stream filter installed).
            self.xmpp.register_handler(
                CoroutineCallback(_HANDLER, StanzaPath("iq@type=set/command"), self._on_stanza)
            )
            self.xmpp.command_route = self._route
            self._handler_installed = True
        for command in self.commands:
            # For disco (the node's identity, the commands list) and the per-JID registry.
            xep_0050.add_command(
                node=command.NODE, name=command.NAME, handler=self._starters[command.NODE or ""]
            )
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

    # --- the IQs ---------------------------------------------------------------------------------

    def _route(self, xml: Element) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(xml))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, xml: Element) -> None:
        try:
            await self._on_command(xml)
        except Exception as error:
            # As slixmpp's handlers do: an XMPPError is the error reply, anything else is logged
            # and answered internal-server-error.
            self.xmpp.routed_stanza(xml).exception(error)

    async def _on_stanza(self, iq: Any) -> None:
        await self._on_command(iq.xml)

    async def _on_command(self, xml: Element) -> None:
        element = xml.find(f"{{{COMMANDS_NS}}}command")
        assert element is not None  # routed here for having one
        action = element.get("action") or "execute"
        sessionid = element.get("sessionid") or ""
        sessions = self.sessions
        session = sessions.get(sessionid) if sessionid else None
        requester_jid = xml.get("from", "")  # as the server stamped it (the same every time)
        try:
            if session is None:
                if sessionid:
                    # XEP-0050 4.6: a session completed, cancelled or timed out. Not a new start
                    # either (an "execute" with it would run the first step with a later step's
                    # values).
                    raise XMPPError(
                        "not-allowed",
                        text="This command session has ended; run the command again.",
                        extension="session-expired",
                        extension_ns=COMMANDS_NS,
                    )
                if action == "cancel":
                    # Nothing to cancel yet: a first request offers only "execute". XEP-0050 4.6,
                    # bad-action: the action cannot be accepted (here, before any session).
                    raise _bad_action("There is no command session to cancel.")
                session = await self._start(xml, element)
            else:
                if session["from"] != requester_jid:
                    log.warning("%s tried to continue an ad-hoc session of someone else", requester_jid)
                    raise XMPPError("forbidden", text="This command session belongs to someone else.")
                if session.get("pp_busy"):
                    # The same step sent again before our answer (a double click, a resend): a
                    # second run would, say, dial twice; a cancel now could not undo the first.
                    raise XMPPError(
                        "unexpected-request",
                        text="Your previous answer to this command is still being handled.",
                    )
                if action == "cancel":
                    session["pp_form"] = None
                    self._send(xml, session, "canceled", [("info", "Cancelled: nothing was done.")])
                    return
                if action == "prev":
                    if not session["pp_stack"]:
                        # XEP-0050 4.6 bad-action: the first step does not offer "prev".
                        raise _bad_action("This is the first step: there is no previous one.")
                    self._prev(session)
                elif action == "complete" and not session["pp_form"].final:
                    # XEP-0050 4.6 bad-action: this step offers "next", not "complete"; the
                    # session stays at this step.
                    raise _bad_action("This command needs another step: use Next.")
                elif action in ("next", "execute", "complete"):
                    session["pp_busy"] = True
                    try:
                        await self._next(session, form_values(element), action == "complete")
                    finally:
                        session["pp_busy"] = False
                else:
                    raise XMPPError(
                        "bad-request",
                        text=f"Unknown action {action[:20]!r}.",
                        extension="malformed-action",
                        extension_ns=COMMANDS_NS,
                    )
            form: Form | None = session["pp_form"]
            if form is None:
                self._send(xml, session, "completed", session["notes"])
            else:
                self._send(xml, session, "executing", session["notes"], form)
        finally:
            if session is not None and session.get("pp_form") is None:
                sessions.pop(session["id"], None)  # finished (done, cancelled or refused)
            self._forget_old_sessions(sessions)

    async def _start(self, xml: Element, element: Element) -> dict[str, Any]:
        node = element.get("node") or ""
        to = JID(xml.get("to", ""))
        starter = own = self._starters.get(node) if to == self.xmpp.boundjid else None
        if starter is None:  # a phone JID's command (contact commands), or no such node
            found = await self.xmpp.plugin["xep_0050"].api["get_command"](
                to.full, node, JID(xml.get("from", ""))
            )
            starter = found[1] if found else None
        if starter is None:
            raise XMPPError("item-not-found")
        self._session_ids += 1
        session: dict[str, Any] = {
            "id": f"{time.time()}-{self._session_ids}",
            "from": xml.get("from", ""),
            "node": node,
            "pp_started": self._clock(),
            # A link such as xmpp:phone?command;node=call;number=1002 reaches us as a form field of
            # the execute request, when the client passes it at all.
            "pp_prefill": form_values(element),
        }
        # Our own starters read the session; the contact commands' (slixmpp's registry) get the
        # stanza object slixmpp would have given them.
        session = await starter(None if starter is own else self.xmpp.routed_stanza(xml), session)
        if session.get("pp_form") is not None:
            self.sessions[session["id"]] = session
            self._bound(session["from"].split("/", 1)[0], session["id"])
        return session

    def _bound(self, user: str, new: str) -> None:
        """At most MAX_OPEN_SESSIONS open sessions for ``user``: the oldest ones go."""
        sessions = self.sessions
        ids = [sid for sid in self._open.get(user, ()) if sid in sessions]
        ids.append(new)
        while len(ids) > MAX_OPEN_SESSIONS:
            sessions.pop(ids.pop(0), None)
        self._open[user] = ids

    def _send(
        self,
        xml: Element,
        session: dict[str, Any],
        status: str,
        notes: list[tuple[str, str]] | None,
        form: Form | None = None,
    ) -> None:
        out = [
            f'<iq type="result"{_attr("id", xml.get("id", ""))}{_attr("to", xml.get("from", ""))}',
            f'{_attr("from", xml.get("to", ""))}><command xmlns="{COMMANDS_NS}"',
            f"{_attr('node', session['node'])}{_attr('sessionid', session['id'])}{_attr('status', status)}>",
        ]
        if form is not None:
            actions = ["complete" if form.final else "next"] + (["prev"] if session["pp_stack"] else [])
            # 'execute' says what "execute" stands for (XEP-0050 3.4); absent it means "next",
            # which the last step does not offer.
            out.append(
                f'<actions execute="{actions[0]}">' + "".join(f"<{a}/>" for a in actions) + "</actions>"
            )
        for level, text in notes or ():
            out.append(f"<note{_attr('type', level)}>{escape(text)}</note>")
        if form is not None:
            out.append(form_xml(form))
        out.append("</command></iq>")
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append("".join(out))

    def _flush(self) -> None:
        """The answers of this loop iteration in one socket write: with many users clicking at
        once, one system call (and one wake-up of the server) for several answers."""
        data, self._out = "".join(self._out), []
        try:
            self.xmpp.send_raw(data)
        except NotConnectedError:
            log.info("the XMPP connection closed before %d bytes of command answers were written", len(data))

    def _forget_old_sessions(self, sessions: dict[str, Any]) -> None:
        """Drop the sessions left open longer than SESSION_TIMEOUT (finished ones go at once).

        Looks at most once every SESSION_SWEEP seconds, so a command costs no pass over every
        open session; the table holds the live sessions plus the forms abandoned in clients for
        less than SESSION_TIMEOUT + SESSION_SWEEP.
        """
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SESSION_SWEEP
        for sid, session in list(sessions.items()):
            if session.get("pp_form") is None or now - session["pp_started"] > SESSION_TIMEOUT:
                del sessions[sid]

    # --- steps -----------------------------------------------------------------------------------

    def _starter(self, command: Command) -> StepStarter:
        async def execute(_request: Any, session: dict[str, Any]) -> dict[str, Any]:
            requester = self.services.requester(str(JID(session["from"])))
            if not requester.local and command.ACCESS is not Access.ADMIN:
                raise XMPPError("forbidden", text="This service is only for users of this company's domains.")
            if command.ACCESS is Access.ADMIN and not requester.admin:
                # Unlisted for them, but a client may still execute the node by name.
                log.warning("%s tried to run the admin command %s", requester.jid, command.NODE)
                self.services.count_command(command.NAME, "refused")
                raise XMPPError("forbidden", text="Only the service's administrators may run this command.")
            session["pp_stack"] = []
            reply = await runner.start(command, requester, session.get("pp_prefill") or {})
            return self._render(session, reply)

        return execute

    async def _next(self, session: dict[str, Any], values: dict[str, str], completing: bool) -> None:
        form: Form = session["pp_form"]
        reply, refused = await runner.submit(form, values)
        if isinstance(reply, Form) and completing:
            # "complete" ends the session whatever we answer: say why it did not happen.
            notes = [text for level, text in reply.notes if level == "error"]
            reply = Done(notes[0] if notes else "This command needs another step: use Next.", "error")
        if not refused:
            session["pp_stack"].append(form)
        self._render(session, reply)

    def _prev(self, session: dict[str, Any]) -> None:
        stack: list[Form] = session["pp_stack"]  # not empty: checked by the caller
        self._render(session, replace(stack.pop(), notes=[]))

    def _render(self, session: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Keep the step's reply in the session (a Done ends it)."""
        session.setdefault("pp_stack", [])
        if isinstance(reply, Done):
            session["pp_form"] = None
            session["notes"] = [(reply.level, reply.text)]
        else:
            session["pp_form"] = reply
            session["notes"] = list(reply.notes) or None
        return session
