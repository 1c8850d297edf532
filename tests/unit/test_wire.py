"""The presence stanza: parses, escapes, and round-trips every field of the CombinedPresence."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from presence.merge import merge
from presence.model import (
    Activity,
    CalendarState,
    CombinedPresence,
    ImShow,
    ImState,
    LineState,
    PhoneState,
    WazoPresenceState,
)
from presence.wire import NS_ACTIVITY, NS_PHONEPRESENCE, build_presence, phone_jid, probes

FROM = "alice@phone.example.org/phone"
TO = "bob@example.org/gajim"


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def decode(xml: str) -> tuple[str, str, CombinedPresence]:
    """Rebuild the CombinedPresence from the stanza alone, as a machine watcher would."""
    root = parse(xml)
    assert root.tag == "presence"
    phone = root.find(f"{{{NS_PHONEPRESENCE}}}phone")
    assert phone is not None
    attrs = dict(phone.attrib)
    state = attrs.pop("state")
    show = root.find("show")
    status = root.find("status")
    return (
        root.attrib["from"],
        root.attrib["to"],
        CombinedPresence(
            activity=Activity(state),
            available=root.attrib.get("type") != "unavailable",
            show=show.text if show is not None else None,
            status=(status.text or "") if status is not None else "",
            in_call=root.find(
                f"{{{NS_ACTIVITY}}}activity/{{{NS_ACTIVITY}}}talking/{{{NS_ACTIVITY}}}on_the_phone"
            )
            is not None,
            raw=tuple(attrs.items()),
        ),
    )


def sample(line: LineState = LineState.TALKING, im: ImState | None = None) -> CombinedPresence:
    return merge(
        im or ImState(ImShow.AWAY),
        PhoneState(user_uuid="u", line_state=line),
        CalendarState(busy=True),
    )


def test_in_call_presence_has_show_status_activity_and_raw_child() -> None:
    xml = build_presence(sample(), FROM).for_subscriber(TO)
    root = parse(xml)
    assert root.attrib == {"from": FROM, "to": TO}
    assert root.findtext("show") == "dnd"
    assert root.findtext("status") == "On the phone"
    activity = root.find(f"{{{NS_ACTIVITY}}}activity")
    assert activity is not None
    assert [child.tag for child in activity] == [f"{{{NS_ACTIVITY}}}talking"]
    assert [child.tag for child in activity[0]] == [f"{{{NS_ACTIVITY}}}on_the_phone"]
    phone = root.find(f"{{{NS_PHONEPRESENCE}}}phone")
    assert phone is not None
    assert phone.attrib == {
        "state": "on_the_phone",
        "line": "talking",
        "im": "away",
        "dnd": "false",
        "calendar": "busy",
    }


def test_no_activity_element_when_not_in_a_call() -> None:
    presence = sample(LineState.RINGING)
    assert presence.in_call is False
    xml = build_presence(presence, FROM).for_subscriber(TO)
    assert parse(xml).find(f"{{{NS_ACTIVITY}}}activity") is None
    assert "activity" not in xml


def test_plain_available_has_no_show_and_no_empty_status() -> None:
    presence = merge(ImState(ImShow.AVAILABLE), None, CalendarState())
    root = parse(build_presence(presence, FROM).for_subscriber(TO))
    assert root.find("show") is None
    assert root.find("status") is None
    assert "type" not in root.attrib


def test_unavailable_presence() -> None:
    presence = merge(ImState(), None, CalendarState())
    root = parse(build_presence(presence, FROM).for_subscriber(TO))
    assert root.attrib["type"] == "unavailable"
    assert root.find("show") is None
    assert root.find(f"{{{NS_PHONEPRESENCE}}}phone") is not None


def test_status_text_and_jids_are_escaped() -> None:
    nasty = "<b>Tom & \"Jerry\"</b> 'quoted' ]]> </presence>"
    presence = merge(ImState(ImShow.AWAY, nasty), None, CalendarState())
    to = 'o\'neil&"co"@example.org/<res>'
    xml = build_presence(presence, "a&b@phone.example.org/phone").for_subscriber(to)
    root = parse(xml)
    assert root.attrib["to"] == to
    assert root.attrib["from"] == "a&b@phone.example.org/phone"
    assert root.findtext("status") == nasty
    assert xml.count("<presence") == 1


def test_probes_one_per_jid_escaped() -> None:
    text = probes("phone.example.org", ["alice@example.org", 'o\'neil&"co"@example.org'])
    root = ET.fromstring(f"<stream>{text}</stream>")
    assert [(p.tag, p.attrib) for p in root] == [
        ("presence", {"from": "phone.example.org", "to": "alice@example.org", "type": "probe"}),
        ("presence", {"from": "phone.example.org", "to": 'o\'neil&"co"@example.org', "type": "probe"}),
    ]
    assert probes("phone.example.org", []) == ""


def test_characters_invalid_in_xml_are_dropped() -> None:
    presence = merge(ImState(ImShow.AWAY, "bell\x07 tab\t ok"), None, CalendarState())
    root = parse(build_presence(presence, FROM).for_subscriber(TO))
    assert root.findtext("status") == "bell tab\t ok"


def test_subscribers_differ_only_by_to() -> None:
    template = build_presence(sample(), FROM)
    one, two = template.for_subscriber("bob@example.org"), template.for_subscriber("carol@example.org")
    assert one.replace("bob@", "carol@") == two
    assert parse(one).attrib["to"] == "bob@example.org"


def test_non_ascii_status_survives() -> None:
    presence = merge(
        ImState(ImShow.CHAT, "Télétravail — 東京"), PhoneState("u", LineState.TALKING), CalendarState()
    )
    _, _, got = decode(build_presence(presence, FROM).for_subscriber(TO))
    assert got.status == "On the phone — Télétravail — 東京"


@pytest.mark.parametrize(
    ("im", "line", "dnd", "busy"),
    list(itertools.product(ImShow, LineState, [False, True], [False, True])),
)
def test_round_trip(im: ImShow, line: LineState, dnd: bool, busy: bool) -> None:
    presence = merge(
        ImState(im, "my <text>"),
        PhoneState(user_uuid="u", line_state=line, do_not_disturb=dnd),
        CalendarState(busy=busy),
    )
    assert decode(build_presence(presence, FROM).for_subscriber(TO)) == (FROM, TO, presence)


@pytest.mark.parametrize(
    ("im", "line", "wazo_dnd"),
    [
        (ImShow.AVAILABLE, LineState.TALKING, True),
        (ImShow.AVAILABLE, LineState.RINGING, True),
        (ImShow.AWAY, LineState.PROGRESSING, True),
        (ImShow.AVAILABLE, LineState.HOLDING, True),
        (ImShow.DND, LineState.TALKING, False),
        (ImShow.DND, LineState.RINGING, True),
    ],
)
def test_dnd_stanza_carries_no_call_activity_and_no_line(im: ImShow, line: LineState, wazo_dnd: bool) -> None:
    presence = merge(
        ImState(im, "Focus"),
        PhoneState(user_uuid="u", line_state=line, do_not_disturb=wazo_dnd),
        CalendarState(busy=True),
    )
    xml = build_presence(presence, FROM).for_subscriber(TO)
    root = parse(xml)
    assert root.findtext("show") == "dnd"
    assert root.findtext("status") == "Do not disturb — Focus"
    assert root.find(f"{{{NS_ACTIVITY}}}activity") is None
    phone = root.find(f"{{{NS_PHONEPRESENCE}}}phone")
    assert phone is not None
    assert phone.attrib == {"state": "do_not_disturb", "im": im.value, "dnd": str(wazo_dnd).lower()}
    for word in ("talking", "ringing", "progressing", "holding", "busy", "calendar", "line"):
        assert word not in xml


def test_invisible_stanza_is_the_offline_stanza() -> None:
    offline = build_presence(merge(ImState(), None, CalendarState()), FROM).for_subscriber(TO)
    invisible = merge(
        ImState(ImShow.CHAT, "here"),
        PhoneState("u", LineState.TALKING, wazo_state=WazoPresenceState.INVISIBLE),
        CalendarState(busy=True),
    )
    assert build_presence(invisible, FROM).for_subscriber(TO) == offline


def test_phone_jid_uses_the_stable_resource() -> None:
    assert phone_jid("alice", "phone.example.org") == "alice@phone.example.org/phone"
