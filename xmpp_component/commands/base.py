"""One class per command, serving both faces: the XEP-0050 form flow and the chat text form.

A command answers each step with a :class:`Reply`:

- :class:`Form`: fields to fill (the adapters render it as an XEP-0004 form, or as chat text), with
  the coroutine that handles the submitted values; ``final`` forms end with "complete";
  ``confirmation`` forms only ask "go ahead?" (chat skips them when the user typed the whole
  command in one message: the text itself is the confirmation, unless the form is
  ``ask_in_chat``: a guess the user must see before it acts, such as a name found in a directory).
- :class:`Done`: the end, with a message (``level`` info/warn/error) and the numbers it mentions
  (chat replies offer a call link for each).

A step handler raises :class:`FieldError` to show the same form again with a note naming the field,
or :class:`CommandError` to end with an error note. Access is checked centrally (:func:`refusal`),
before any command code runs, and the same check filters the disco#items listing per requester.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from presence.identity import Person

if TYPE_CHECKING:
    from xmpp_component.commands.services import CommandServices

Values = Mapping[str, str]
StepHandler = Callable[[Values], Awaitable["Reply"]]


class Access(Enum):
    PHONE_USER = "phone-user"  # a chat user of our domains who has a Wazo user
    LOCAL_USER = "local-user"  # any chat user of our domains
    ADMIN = "admin"  # a configured admin


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    number: str = ""  # a phone number the row mentions (chat offers a call link for it)


@dataclass(frozen=True, slots=True)
class Field:
    var: str
    label: str
    kind: str = "text-single"  # text-single | list-single | fixed | hidden
    value: str = ""
    options: tuple[Option, ...] = ()
    required: bool = False
    desc: str = ""


@dataclass(slots=True)
class Form:
    title: str
    fields: Sequence[Field]
    handler: StepHandler
    instructions: str = ""
    final: bool = False
    confirmation: bool = False
    ask_in_chat: bool = False  # a confirmation chat asks too (with a time limit), never skips
    notes: list[tuple[str, str]] = field(default_factory=list)  # (info|warn|error, text)

    def field(self, var: str) -> Field | None:
        return next((f for f in self.fields if f.var == var), None)


@dataclass(frozen=True, slots=True)
class Done:
    text: str
    level: str = "info"
    numbers: tuple[str, ...] = ()  # numbers the text mentions, each offered as a call link


Reply = Form | Done


class FieldError(Exception):
    """A submitted value is wrong: the form is shown again with ``"<label>: <message>"``."""

    def __init__(self, var: str, message: str) -> None:
        super().__init__(f"{var}: {message}")
        self.var = var
        self.message = message


class CommandError(Exception):
    """The command cannot go on; ``str(error)`` is the note for the user."""


@dataclass(frozen=True, slots=True)
class Requester:
    jid: str  # bare, lower case
    person: Person | None  # the Wazo user behind this chat user, if any
    local: bool  # a user of one of our chat domains
    admin: bool


def refusal(access: Access, requester: Requester) -> str | None:
    """Why ``requester`` may not run a command needing ``access``; ``None`` when they may."""
    if access is Access.ADMIN:
        return None if requester.admin else "only the service's administrators may run this command"
    if not requester.local:
        return "this service is only for users of this company's chat domains"
    if access is Access.PHONE_USER and requester.person is None:
        return (
            f"{requester.jid} is not provisioned: no Wazo phone user is linked to this chat account "
            "(ask your administrator)"
        )
    return None


def visible(access: Access, requester: Requester) -> bool:
    """Whether the command is listed for ``requester`` (disco#items, help): only what they may run."""
    return refusal(access, requester) is None


class Command:
    """Subclasses set the class attributes and implement :meth:`start`."""

    NAME: ClassVar[str]  # shown in disco#items and help
    NODE: ClassVar[str | None] = None  # XEP-0050 node; None: chat only
    CHAT_COMMAND: ClassVar[str | None] = None  # first word(s) of the chat form; None: ad-hoc only
    CHAT_ALIASES: ClassVar[tuple[str, ...]] = ()
    CHAT_USAGE: ClassVar[str] = ""
    ACCESS: ClassVar[Access] = Access.PHONE_USER
    PREFILL: ClassVar[str | None] = None  # the field chat arguments (or a link's value) fill

    def __init__(self, services: CommandServices) -> None:
        self.services = services

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        raise NotImplementedError

    def chat_prefill(self, args: str) -> dict[str, str]:
        """What the words after the chat command mean (by default: the :attr:`PREFILL` field)."""
        return {self.PREFILL: args} if self.PREFILL and args.strip() else {}


def describe(value: Any) -> str:
    """A submitted value for a note, cut short."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
