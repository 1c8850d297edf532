"""Voicemail in the chat: when Wazo says a message was left, its owner gets a chat message from
the component with who called, when, how long, a "listen" link (also as XEP-0066 out-of-band
data, which clients such as Conversations show as an inline player) and how to call back.

The message is ``type=chat`` to the owner's bare JID: a user who is offline gets it from the
server's offline storage (or archive) at their next login.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from presence.directory import CombinedDirectory
from presence.identity import People
from presence.model import VoicemailReceived
from presence.phone_numbers import DialInputError, display_number, parse_number
from xmpp_component.commands.links import call_link
from xmpp_component.config import CallsSection
from xmpp_component.voicemail_text import caller_name, duration_text, time_text

log = logging.getLogger(__name__)

OOB_NS = "jabber:x:oob"


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    listen_url: str  # "" when the [http] listener is off
    listen_desc: str


def compose_notice(
    event: VoicemailReceived,
    name: str,
    calls: CallsSection,
    component_jid: str,
    listen_url: str,
    received_at: int,
    zone: tzinfo,
    call_back_row: int | None,
) -> Notice:
    """The notice for one new message (pure: the name and link are looked up before)."""
    number = event.caller_number
    shown = display_number(number, calls.default_region, calls.extension_max_digits) if number else ""
    who = (f"{name} ({shown})" if name and name != shown else shown) if shown else name or "an unknown caller"
    when = time_text(event.timestamp or received_at, zone)
    lines = [f"New voicemail from {who}, {when}, {duration_text(event.duration_seconds)}."]
    if listen_url:
        lines.append(f"Listen: {listen_url}")
    try:
        dial = parse_number(number, calls.default_region, calls.extension_max_digits).dial if number else ""
    except DialInputError:
        dial = ""
    if dial:
        # call_back_row: the message's call in Recent calls, which "call back N" numbers (not
        # always the newest: another call may have ended while the caller was speaking).
        typed = f"  (or type: call back {call_back_row})" if call_back_row is not None else ""
        lines.append(f"Call back: {call_link(component_jid, dial)}{typed}")
    lines.append("Type voicemail to list, mark read or delete your messages.")
    return Notice("\n".join(lines), listen_url, f"Voicemail from {who}, {when}")


class VoicemailNotices:
    def __init__(
        self,
        xmpp: Any,
        component_jid: str,
        people: Callable[[], People],
        directory: CombinedDirectory,
        calls: Callable[[], CallsSection],
        listen_link: Callable[[str, str], str] | None,
        zone: tzinfo,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._xmpp = xmpp
        self._component_jid = component_jid
        self._people = people
        self._directory = directory
        self._calls = calls
        self._listen_link = listen_link  # (message id, owner uuid) -> URL; None: no [http]
        self._zone = zone  # times are told in calendar.timezone, as the call notices
        self._clock = clock
        self.sent = 0

    async def send(self, event: VoicemailReceived, call_back_row: int | None = None) -> None:
        person = self._people().by_uuid.get(event.user_uuid)
        if person is None:
            log.info("voicemail for a Wazo user with no chat account: no notice")
            return
        calls = self._calls()
        name = await caller_name(self._directory, event.caller_number, person.chat_jid, calls.default_region)
        listen = self._listen_link(event.message_id, event.user_uuid) if self._listen_link else ""
        notice = compose_notice(
            event,
            name or event.caller_name,
            calls,
            self._component_jid,
            listen,
            int(self._clock()),
            self._zone,
            call_back_row,
        )
        msg = self._xmpp.make_message(
            mto=person.chat_jid, mbody=notice.text, mtype="chat", mfrom=self._component_jid
        )
        if notice.listen_url:
            msg["oob"]["url"] = notice.listen_url
            msg["oob"]["desc"] = notice.listen_desc
        msg.send()
        self.sent += 1
