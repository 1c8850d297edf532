"""The one exception every Wazo remote failure becomes."""

from __future__ import annotations

import logging
from collections.abc import Callable


class WazoError(Exception):
    """A Wazo call that did not give a usable answer.

    ``status`` is the HTTP status, or ``None`` when no HTTP answer arrived (timeout, refused
    connection). ``error_id`` is Wazo's own error identifier when its error body had one
    (e.g. ``not-initialized``, ``invalid-extension``), else a short local one such as
    ``timeout``, ``connection-failed``, ``malformed-json``, ``unexpected-shape``.
    The message never contains a token or a password.
    """

    def __init__(self, endpoint: str, status: int | None, error_id: str, message: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.error_id = error_id
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no answer"
        return f"{self.endpoint}: {status} {self.error_id}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"WazoError(endpoint={self.endpoint!r}, status={self.status!r}, "
            f"error_id={self.error_id!r}, message={self.message!r})"
        )

    @property
    def retryable(self) -> bool:
        """Worth retrying later: no answer, server-side trouble, or chatd still starting."""
        return self.status is None or self.status >= 500 or self.error_id == "not-initialized"


class WazoShapeError(ValueError):
    """A JSON document from Wazo lacks a key or has a value of the wrong type.

    Raised by the parsers; ``key`` names the key at fault so the log line can say which.
    """

    def __init__(self, what: str, key: str, problem: str) -> None:
        self.what = what
        self.key = key
        self.problem = problem
        super().__init__(f"{what}: key {key!r} {problem}")


def log_skipped_item(logger: logging.Logger, what: str) -> Callable[[int, WazoShapeError], None]:
    """An ``on_skip`` for list parsers: one warning naming the item and the key at fault."""

    def skipped(index: int, error: WazoShapeError) -> None:
        logger.warning("%s: skipped malformed item %d: key %r %s", what, index, error.key, error.problem)

    return skipped


TLS_HINT = "give its CA certificate with wazo.ca_file (or, in a lab only, set wazo.verify_tls = false)"


def untrusted_certificate(detail: str) -> str:
    """The message for a Wazo certificate we cannot verify, naming the options that fix it."""
    return f"Wazo's TLS certificate is not trusted ({detail}); {TLS_HINT}"
