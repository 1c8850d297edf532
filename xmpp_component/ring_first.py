"""Which of a user's phones rings first when they place a call: pure choice and its resolution.

calld's origination rings the caller's own phone before dialling out, and lets the caller pick
which one (reference wazo-api.md §7.1): the main line (default), a given line (``line_id``),
every line (``all_lines``) or the mobile (``from_mobile``, dialled through the main line's
context). The choice is kept per user by their Wazo line id, so renaming a line keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from presence.sources.wazo.confd import WazoLine, WazoUser


class RingMode(StrEnum):
    MAIN = "main"
    ALL = "all"
    MOBILE = "mobile"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class RingFirst:
    mode: RingMode = RingMode.MAIN
    line_id: int | None = None  # with LINE only
    line_name: str = ""  # the line's name when chosen, for display if the line goes away

    @property
    def value(self) -> str:
        """The form's value: ``main``, ``all``, ``mobile`` or ``line:<id>``."""
        return f"line:{self.line_id}" if self.mode is RingMode.LINE else self.mode.value

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"mode": self.mode.value}
        if self.mode is RingMode.LINE:
            document |= {"line_id": self.line_id, "line_name": self.line_name}
        return document

    @classmethod
    def from_document(cls, value: Any) -> RingFirst:
        """The stored ``ring_first`` key; ValueError when malformed."""
        if not isinstance(value, dict):
            raise ValueError("not an object")
        mode = RingMode(str(value.get("mode")))
        if mode is not RingMode.LINE:
            return cls(mode)
        line_id = value.get("line_id")
        if not isinstance(line_id, int) or isinstance(line_id, bool):
            raise ValueError("line_id is not an integer")
        return cls(mode, line_id, str(value.get("line_name") or ""))


MAIN = RingFirst()


class RingFirstError(ValueError):
    """The choice cannot be honoured for this user; the message is said to them."""


def _line_label(line: WazoLine) -> str:
    extension = line.main_extension
    return f"{line.name} ({extension.exten})" if extension else line.name


def describe_lines(user: WazoUser) -> str:
    return ", ".join(f"{n} {_line_label(line)}" for n, line in enumerate(user.lines, 1)) or "none"


def choose(user: WazoUser, text: str) -> RingFirst:
    """A user's words (``main``, ``all``, ``mobile``, ``line <number or name>``, ``line:<id>``)
    checked against their Wazo user: a line must be theirs, the mobile must be known."""
    words = text.strip().split(maxsplit=1)
    word = words[0].lower() if words else ""
    if word.startswith("line:") and len(words) == 1:  # the form's value carries the line id
        line = next((line for line in user.lines if f"line:{line.id}" == word), None)
        if line is None:
            raise RingFirstError(f"that line is not yours; your lines: {describe_lines(user)}")
        return RingFirst(RingMode.LINE, line.id, line.name)
    if word in ("main", "default") and len(words) == 1:
        if user.main_line is None:
            raise RingFirstError("you have no line on the phone system")
        return MAIN
    if word in ("all", "lines") and len(words) == 1:
        if not user.lines:
            raise RingFirstError("you have no line on the phone system")
        return RingFirst(RingMode.ALL)
    if word == "mobile" and len(words) == 1:
        if not user.mobile_phone_number.strip():
            raise RingFirstError(
                "the phone system has no mobile number for you; ask your administrator to add it"
            )
        return RingFirst(RingMode.MOBILE)
    if word == "line" and len(words) == 2:
        wanted = words[1].strip()
        for position, line in enumerate(user.lines, 1):
            if wanted.lower() == line.name.lower() or wanted == str(position):
                return RingFirst(RingMode.LINE, line.id, line.name)
        raise RingFirstError(f"you have no line {wanted!r}; your lines: {describe_lines(user)}")
    raise RingFirstError(f"{text.strip()!r} is not one of: main, all, mobile, line <number or name>")


@dataclass(frozen=True, slots=True)
class Origin:
    """What to ask calld for: the line whose context dials, and the source flags."""

    context: str
    line_id: int | None
    all_lines: bool
    from_mobile: bool
    phone: str  # said to the user: "your phone (alice-desk)", "all your phones", …


def origin(user: WazoUser, choice: RingFirst) -> Origin:
    """The origination for ``choice``; RingFirstError when it no longer fits the user (their
    chosen line or their mobile number was removed on Wazo since)."""
    main = user.main_line
    if main is None:
        raise RingFirstError("your phone user has no line to ring")
    if choice.mode is RingMode.ALL:
        return Origin(main.context, None, True, False, "all your phones")
    if choice.mode is RingMode.MOBILE:
        mobile = user.mobile_phone_number.strip()
        if not mobile:
            raise RingFirstError(
                "you chose your mobile to ring first, but the phone system has no mobile number "
                "for you any more; change it with: ring first main"
            )
        return Origin(main.context, None, False, True, f"your mobile ({mobile})")
    if choice.mode is RingMode.LINE:
        line = next((line for line in user.lines if line.id == choice.line_id), None)
        if line is None:
            raise RingFirstError(
                f"the line you chose to ring first ({choice.line_name or choice.line_id}) is no longer "
                "yours; change it with: ring first main"
            )
        return Origin(line.context, line.id, False, False, f"your phone ({line.name})")
    return Origin(main.context, main.id, False, False, f"your phone ({main.name})")


def describe(choice: RingFirst) -> str:
    if choice.mode is RingMode.ALL:
        return "all your lines"
    if choice.mode is RingMode.MOBILE:
        return "your mobile"
    if choice.mode is RingMode.LINE:
        return f"your line {choice.line_name or choice.line_id}"
    return "your main line"
