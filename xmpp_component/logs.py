"""Logging set-up: secrets always masked; personal data (JIDs, emails, phone numbers) masked unless
``logging.personal_data = true``; plain text or one JSON object per line for log shippers."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from presence.sources.wazo.config import Secret

# user@domain (a JID's or an email's local part is what identifies a person; the domain stays).
_ADDRESS = re.compile(r"(?<![\w.+-])([\w.+-]+)@((?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+)")
# +33123456789, 0123456789, +33 1 23 45 67 89: six digits or more, not inside a word, a uuid or
# a call id such as 1700000000.12 (those are not personal and are needed to follow a call).
_NUMBER = re.compile(r"(?<![\w.-])(?:\+\d[\d ().-]{4,}\d|\d{6,})(?![\w.-])")


def _mask_address(match: re.Match[str]) -> str:
    return f"{match.group(1)[0]}***@{match.group(2)}"


def _mask_number(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    seen = 0
    out = []
    for char in text:
        if char.isdigit():
            seen += 1
            out.append(char if seen > digits - 2 else "*")  # the last two digits stay
        else:
            out.append(char)
    return "".join(out)


def mask_personal_data(text: str) -> str:
    """``alice@example.org`` -> ``a***@example.org``, ``+33123456789`` -> ``+*********89``."""
    return _NUMBER.sub(_mask_number, _ADDRESS.sub(_mask_address, text))


class SecretRedactor(logging.Filter):
    """Replaces the text of each registered secret by ``***`` in formatted messages, and masks
    personal data unless it is allowed."""

    def __init__(self, secrets: list[Secret], personal_data: bool = True) -> None:
        super().__init__()
        self._values = [s.reveal() for s in secrets if s.reveal()]
        self._personal_data = personal_data

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        changed = message
        if any(value in changed for value in self._values):
            for value in self._values:
                changed = changed.replace(value, "***")
        if not self._personal_data:
            changed = mask_personal_data(changed)
        if changed != message:
            record.msg, record.args = changed, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str, secrets: list[Secret], log_format: str = "text", personal_data: bool = False
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretRedactor(secrets, personal_data))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slixmpp logs every byte at DEBUG; keep it quieter unless the operator asked for debug.
    if level.lower() != "debug":
        logging.getLogger("slixmpp").setLevel(logging.WARNING)
    # aiosqlite logs every statement at DEBUG, which drowns the component's own debug lines.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
