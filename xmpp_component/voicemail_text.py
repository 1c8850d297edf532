"""How a voicemail message is told to its owner (notice and Voicemail command): the caller's name
from the directories, the time, the duration. No XMPP here, so both can import it."""

from __future__ import annotations

from datetime import datetime, tzinfo

from presence.directory import CombinedDirectory, DirectoryUnavailable
from presence.directory.ranking import number_key


def duration_text(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def time_text(timestamp: int, zone: tzinfo) -> str:
    """In the company's time zone (``calendar.timezone``), as the call history's notices: never
    the host's, which for a server or a container is often UTC."""
    return datetime.fromtimestamp(timestamp, zone).strftime("%d %b %H:%M")


async def caller_name(directory: CombinedDirectory, number: str, owner_jid: str, region: str) -> str:
    """The name the directories give ``number`` (the same number, however written), or ""."""
    if not number:
        return ""
    try:
        entries = await directory.search(number, owner_jid)
    except DirectoryUnavailable:
        return ""
    wanted = number_key(number, region)
    for entry in entries:
        if entry.name and number_key(entry.number, region) == wanted:
            return entry.name
    return ""
