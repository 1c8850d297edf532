""" "Call": a number, an extension or a name; the user's own phone rings first."""

from __future__ import annotations

from dataclasses import replace

from presence.directory import DirectoryEntry, DirectoryUnavailable
from presence.model import CombinedPresence
from presence.phone_numbers import DialInputError, DialTarget, NameQuery, parse_dial_input
from xmpp_component.commands.base import (
    Command,
    CommandError,
    Field,
    FieldError,
    Form,
    Option,
    Reply,
    Requester,
    Values,
)
from xmpp_component.commands.dialing import dial_target, dialled_note, place_call

NUMBER_FIELD = Field(
    "number",
    "Number, extension or name",
    required=True,
    desc="e.g. 1002, +33 1 23 45 67 89, 01 23 45 67 89 or Bob",
)


SOURCE_NAMES = {
    "wazo": "colleague",
    "ldap": "company directory",
    "company": "company address book",
    "personal": "your contacts",
}


def entry_label(entry: DirectoryEntry, state: str = "") -> str:
    """ "Bob Martin — 1002 (extension) — On the phone", or "... (mobile, company directory)"."""
    where = "" if entry.source == "wazo" else f", {SOURCE_NAMES.get(entry.source, entry.source)}"
    label = f"{entry.name} — {entry.number} ({entry.kind.value}{where})"
    return f"{label} — {state}" if state else label


def phone_state_label(presence: CombinedPresence) -> str:
    """What the pick list says about a colleague: the phone side of their presence only (their own
    chat status text is left out)."""
    if not presence.available:
        return ""
    return presence.status.split(" — ", 1)[0] or "Available"


def asks_before_dialling(entry: DirectoryEntry) -> bool:
    """Whether chat asks "Call <name> at <number>? (yes/no)" before dialling the one match of a
    name search. Only for people outside the company's phone system (LDAP, address books): a wrong
    match there is a real outside call to a stranger. A colleague (a Wazo user) is dialled at once,
    as the typed "call bob" says: a wrong colleague is an internal call, hung up in a second."""
    return entry.source != "wazo"


class CallCommand(Command):
    NAME = "Call"
    NODE = "call"
    CHAT_COMMAND = "call"
    CHAT_ALIASES = ("dial",)
    CHAT_USAGE = "call <number, extension or name>   e.g. call bob, call 1002, call +33 1 23 45 67 89"
    PREFILL = "number"

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        number = prefill.get("number", "")
        if number.strip():
            try:
                return await self._resolve(requester, number)
            except FieldError as error:
                form = self._ask(requester, number)
                form.notes.append(("error", f"{NUMBER_FIELD.label}: {error.message}"))
                return form
        return self._ask(requester)

    def _ask(self, requester: Requester, value: str = "") -> Form:
        async def submitted(values: Values) -> Reply:
            return await self._resolve(requester, values.get("number", ""))

        return Form(
            "Click to call",
            [replace(NUMBER_FIELD, value=value)],
            submitted,
            instructions="Who do you want to call? Your own phone rings first; pick it up to place the call.",
        )

    async def _resolve(self, requester: Requester, text: str) -> Reply:
        calls = self.services.calls
        try:
            what = parse_dial_input(text, calls.default_region, calls.extension_max_digits)
        except DialInputError as error:
            raise FieldError("number", f"{text.strip()[:40]!r} {error}") from None
        if isinstance(what, NameQuery):
            return await self._search(requester, what)
        return self._confirm(requester, what, "")

    def _state(self, entry: DirectoryEntry) -> str:
        services = self.services
        if not entry.wazo_uuid or services.phone_state is None:
            return ""
        person = services.people().by_uuid.get(entry.wazo_uuid)
        return services.phone_state(person.localpart) if person else ""

    async def _search(self, requester: Requester, query: NameQuery) -> Reply:
        services = self.services
        text = query.text.strip()
        if len(text) < services.min_query_length:
            raise FieldError("number", f"type at least {services.min_query_length} letters of a name")
        if services.search_limiter is not None:
            wait = services.search_limiter.acquire(requester.jid)
            if wait is not None:
                raise CommandError(f"too many searches; try again in {max(1, round(wait))} s")
        try:
            result = await services.directory.lookup(text, owner=requester.jid)
        except DirectoryUnavailable as error:
            raise CommandError(f"the directory cannot be searched now ({error})") from None
        own = requester.person.wazo_uuid if requester.person else None
        found = [e for e in result.entries if not (own and e.wazo_uuid == own)]  # not yourself
        found = found[: services.calls.search_max_results]
        unavailable = "; ".join(result.notes)
        if not found:
            missing = f" ({unavailable})" if unavailable else ""
            raise FieldError("number", f"no one in the directory matches {query.text!r}{missing}")
        return self._choose(requester, found, f"{len(found)} numbers match {query.text!r}.", result.notes)

    def _choose(
        self, requester: Requester, found: list[DirectoryEntry], heading: str, warnings: list[str]
    ) -> Form:
        """One number: its confirmation; several: a pick list (each with its source and state)."""
        services = self.services
        if len(found) == 1:
            entry = found[0]
            target = dial_target(services, entry.number)
            if asks_before_dialling(entry):
                where = SOURCE_NAMES.get(entry.source, entry.source)
                label = f"{entry.name} at {entry.number} ({entry.kind.value}, {where})"
                form = self._confirm(requester, target, label, who=entry.name)
                form.ask_in_chat = True
            else:
                form = self._confirm(requester, target, entry_label(entry))
            form.notes.extend(("warn", note) for note in warnings)
            return form
        by_number = {e.number: e for e in found}

        async def picked(values: Values) -> Reply:
            choice = values.get("choice", "")
            entry = by_number.get(choice)
            if entry is None:
                raise FieldError("choice", "pick one of the listed numbers")
            return await place_call(
                self.services, requester, dial_target(self.services, entry.number, "choice"), entry.name
            )

        return Form(
            "Click to call: pick a number",
            [
                Field(
                    "choice",
                    "Who",
                    kind="list-single",
                    options=tuple(Option(e.number, entry_label(e, self._state(e)), e.number) for e in found),
                    required=True,
                )
            ],
            picked,
            instructions=heading,
            final=True,
            notes=[("warn", note) for note in warnings],
        )

    def _confirm(self, requester: Requester, target: DialTarget, label: str, who: str = "") -> Form:
        shown = (label or f"{target.display} ({target.kind.value})") + dialled_note(self.services, target)
        who = who or (label.split(" — ", 1)[0] if label else "")

        async def confirmed(values: Values) -> Reply:
            # The hidden field comes back from the client: check it again, never trust it blindly.
            number = values.get("number", target.dial)
            return await place_call(self.services, requester, dial_target(self.services, number), who)

        return Form(
            "Click to call: confirm",
            [
                Field("summary", "Call", kind="fixed", value=f"Call {shown}?"),
                Field("number", "Number", kind="hidden", value=target.dial),
            ],
            confirmed,
            instructions="Your own phone rings first; the call goes out when you pick up.",
            final=True,
            confirmation=True,
        )
