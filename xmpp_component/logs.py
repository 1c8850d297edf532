"""Logging set-up, with a last-line defence that masks known secrets in every record."""

from __future__ import annotations

import logging
import sys

from presence.sources.wazo.config import Secret


class SecretRedactor(logging.Filter):
    """Replaces the text of each registered secret by ``***`` in formatted messages."""

    def __init__(self, secrets: list[Secret]) -> None:
        super().__init__()
        self._values = [s.reveal() for s in secrets if s.reveal()]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(value in message for value in self._values):
            for value in self._values:
                message = message.replace(value, "***")
            record.msg, record.args = message, None
        return True


def setup_logging(level: str, secrets: list[Secret]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretRedactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slixmpp logs every byte at DEBUG; keep it quieter unless the operator asked for debug.
    if level.lower() != "debug":
        logging.getLogger("slixmpp").setLevel(logging.WARNING)
    # aiosqlite logs every statement at DEBUG, which drowns the component's own debug lines.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
