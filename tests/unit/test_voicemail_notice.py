"""The voicemail notice's text when parts are missing: no [http] (no link, no OOB data), no caller
number (no call back), a name equal to the number (shown once)."""

from __future__ import annotations

from datetime import UTC

from presence.model import VoicemailReceived
from xmpp_component.config import CallsSection
from xmpp_component.voicemail_notices import compose_notice
from xmpp_component.voicemail_text import time_text

CALLS = CallsSection(default_region="FR")


def event(number: str, name: str = "", duration: int = 75) -> VoicemailReceived:
    return VoicemailReceived("u-1", "1700000000-00000001", number, name, duration, timestamp=1_700_000_000)


def test_without_the_http_listener_there_is_no_link_but_call_back_stays() -> None:
    notice = compose_notice(event("0612345678"), "Dr Who", CALLS, "phone.example.org", "", 0, UTC, 1)
    assert notice.listen_url == ""
    assert notice.text.splitlines() == [
        f"New voicemail from Dr Who (+33 6 12 34 56 78), {time_text(1_700_000_000, UTC)}, 1:15.",
        "Call back: xmpp:phone.example.org?command;node=call;number=%2B33612345678  (or type: call back 1)",
        "Type voicemail to list, mark read or delete your messages.",
    ]


def test_a_withheld_number_gets_no_call_back() -> None:
    notice = compose_notice(
        event("", duration=5), "", CALLS, "phone.example.org", "https://x.test/v.wav", 0, UTC, None
    )
    assert notice.text.splitlines() == [
        f"New voicemail from an unknown caller, {time_text(1_700_000_000, UTC)}, 0:05.",
        "Listen: https://x.test/v.wav",
        "Type voicemail to list, mark read or delete your messages.",
    ]
    assert notice.listen_desc == f"Voicemail from an unknown caller, {time_text(1_700_000_000, UTC)}"


def test_a_name_that_is_the_number_is_shown_once() -> None:
    notice = compose_notice(event("1002"), "1002", CALLS, "phone.example.org", "", 0, UTC, 1)
    assert notice.text.startswith("New voicemail from 1002, ")
