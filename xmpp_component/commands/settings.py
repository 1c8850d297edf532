""" "Settings": what happens during meetings and while the chat status is Do not disturb.

Ad-hoc form with every field, or chat text: ``settings`` shows them; ``meeting busy on|off``;
``meeting calls nowhere|voicemail|<number>``; ``dnd calls nowhere|voicemail|<number>`` (``off`` is
nowhere); ``ring first main|all|mobile|line <number or name>`` (which of one's phones rings
first when placing a call). Only one's own settings; a number is checked like the Call command's
(extensions pass); "my voicemail" is refused when the user has no voicemail box on Wazo.
"""

from __future__ import annotations

from typing import ClassVar

from presence.phone_numbers import DialInputError, parse_number
from presence.sources.wazo.confd import WazoUser
from presence.sources.wazo.errors import WazoError
from rules.model import NOWHERE, CallTarget, RuleSettings, Target
from xmpp_component.commands.base import (
    Command,
    CommandError,
    Done,
    Field,
    FieldError,
    Form,
    Option,
    Reply,
    Requester,
    Values,
    describe,
)
from xmpp_component.ring_first import RingFirst, RingFirstError, RingMode, choose, describe_lines
from xmpp_component.ring_first import describe as describe_ring_first

MEETING_BUSY = "meeting_busy"
MEETING_CALLS = "meeting_calls"
MEETING_NUMBER = "meeting_number"
DND_CALLS = "dnd_calls"
DND_NUMBER = "dnd_number"
RING_FIRST = "ring_first"

LABELS = {
    MEETING_BUSY: "During meetings, show In a meeting",
    MEETING_CALLS: "During meetings, send calls to",
    MEETING_NUMBER: "During meetings, number",
    DND_CALLS: "When Do not disturb, send calls to",
    DND_NUMBER: "When Do not disturb, number",
    RING_FIRST: "When I place a call, ring first",
}
_ON_OFF = (Option("on", "On: show me as In a meeting"), Option("off", "Off"))
_TARGETS = (
    Option("nowhere", "Nowhere: my phone rings as usual"),
    Option("voicemail", "My voicemail"),
    Option("number", "A number (below)"),
)
_WORDS = {
    "nowhere": "nowhere",
    "off": "nowhere",
    "none": "nowhere",
    "voicemail": "voicemail",
    "vm": "voicemail",
}


def describe_target(choice: CallTarget) -> str:
    if choice.target is Target.VOICEMAIL:
        return "your voicemail"
    if choice.target is Target.NUMBER:
        return choice.number
    return "nowhere (your phone rings as usual)"


CHAT_HINT = (
    "Change them with: meeting busy on|off, meeting calls nowhere|voicemail|<number>, "
    "dnd calls nowhere|voicemail|<number>"
)


RING_HINT = "ring first main|all|mobile|line <number or name>"


def ring_first_summary(choice: RingFirst) -> str:
    return f"When you place a call: {describe_ring_first(choice)} rings first."


def ring_first_options(user: WazoUser | None, current: RingFirst) -> tuple[Option, ...]:
    """What the user's Wazo account allows: main line, all lines, each line, the mobile if known."""
    if user is None:  # Wazo did not answer: offer what needs no knowledge of the lines
        return (Option("main", "My main line"), Option("all", "All my lines"), Option("mobile", "My mobile"))
    main = user.main_line
    options = [Option("main", f"My main line ({main.name})" if main else "My main line")]
    if len(user.lines) > 1:
        options.append(Option("all", "All my lines at once"))
        options += [
            Option(f"line:{line.id}", f"Line {n}: {line.name}") for n, line in enumerate(user.lines, 1)
        ]
    if user.mobile_phone_number.strip():
        options.append(Option("mobile", f"My mobile ({user.mobile_phone_number.strip()})"))
    if current.value not in {option.value for option in options}:
        options.append(Option(current.value, f"{describe_ring_first(current)} (no longer available)"))
    return tuple(options)


def summary(rules: RuleSettings) -> str:
    return (
        f"During meetings: In a meeting shown {'on' if rules.meeting_busy else 'off'}; "
        f"calls go to {describe_target(rules.meeting_calls)}.\n"
        f"When your chat status is Do not disturb: calls go to {describe_target(rules.dnd_calls)}."
    )


class SettingsCommand(Command):
    NAME = "Settings"
    NODE: ClassVar[str | None] = "settings"
    CHAT_COMMAND = "settings"
    CHAT_USAGE = "settings   your meeting and Do not disturb settings"

    def chat_prefill(self, args: str) -> dict[str, str]:
        return {"_show": args}  # chat: print the settings and how to change them

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        assert requester.person is not None  # Access.PHONE_USER
        current = self.services.settings.call_rules(requester.person.wazo_uuid)
        situation = self.services.situation(requester) if self.services.situation else ""
        ringing = self.services.settings.ring_first(requester.person.wazo_uuid)
        if "_show" in prefill:
            parts = (situation, summary(current), ring_first_summary(ringing), CHAT_HINT + ", " + RING_HINT)
            return Done("\n".join(part for part in parts if part))
        if prefill:
            # Chat text: one message, so a wrong value ends it with a note naming the setting.
            try:
                return await self._apply(requester, {**self._values(current), **prefill})
            except FieldError as error:
                return Done(f"{LABELS.get(error.var, error.var)}: {error.message}", level="error")

        async def submitted(values: Values) -> Reply:
            return await self._apply(requester, values)

        try:  # the phones the user has on Wazo, to offer as "ring first"
            wazo_user: WazoUser | None = await self.services.pbx().confd.get_user(requester.person.wazo_uuid)
        except (WazoError, CommandError):  # Wazo down or not connected: the form works without
            wazo_user = None

        return Form(
            "Settings",
            [
                Field(
                    MEETING_BUSY,
                    "During meetings: show me as In a meeting",
                    kind="list-single",
                    value="on" if current.meeting_busy else "off",
                    options=_ON_OFF,
                    required=True,
                ),
                Field(
                    MEETING_CALLS,
                    "During meetings: send my calls to",
                    kind="list-single",
                    value=current.meeting_calls.target.value,
                    options=_TARGETS,
                    required=True,
                ),
                Field(MEETING_NUMBER, "During meetings: number", value=current.meeting_calls.number),
                Field(
                    DND_CALLS,
                    "When my chat status is Do not disturb: send my calls to",
                    kind="list-single",
                    value=current.dnd_calls.target.value,
                    options=_TARGETS,
                    required=True,
                ),
                Field(DND_NUMBER, "When Do not disturb: number", value=current.dnd_calls.number),
                Field(
                    RING_FIRST,
                    "When I place a call, ring first",
                    kind="list-single",
                    value=ringing.value,
                    options=ring_first_options(wazo_user, ringing),
                ),
            ],
            submitted,
            instructions="\n".join(
                part for part in (situation, summary(current), ring_first_summary(ringing)) if part
            ),
            final=True,
        )

    @staticmethod
    def _values(rules: RuleSettings) -> dict[str, str]:
        return {
            MEETING_BUSY: "on" if rules.meeting_busy else "off",
            MEETING_CALLS: rules.meeting_calls.target.value,
            MEETING_NUMBER: rules.meeting_calls.number,
            DND_CALLS: rules.dnd_calls.target.value,
            DND_NUMBER: rules.dnd_calls.number,
        }

    async def _target(self, requester: Requester, var: str, number_var: str, values: Values) -> CallTarget:
        choice = values.get(var, "").strip().lower()
        if choice == "nowhere":
            return NOWHERE
        if choice == "voicemail":
            await self._require_voicemail(requester, var)
            return CallTarget(Target.VOICEMAIL)
        if choice != "number":
            raise FieldError(var, f"{describe(choice)} is not one of: nowhere, voicemail, number")
        text = values.get(number_var, "").strip()
        if not text:
            raise FieldError(number_var, "give the number calls go to")
        calls = self.services.calls
        try:
            dial = parse_number(text, calls.default_region, calls.extension_max_digits).dial
        except DialInputError as error:
            raise FieldError(number_var, f"{describe(text)}: {error}") from None
        return CallTarget(Target.NUMBER, dial)

    async def _require_voicemail(self, requester: Requester, var: str) -> None:
        assert requester.person is not None  # Access.PHONE_USER
        wazo = self.services.pbx()
        user = await wazo.confd.get_user(requester.person.wazo_uuid)
        if not user.has_voicemail:
            raise FieldError(
                var,
                "you have no voicemail box on the phone system; choose a number, or ask your administrator",
            )

    async def _ring_first(self, requester: Requester, values: Values) -> RingFirst | None:
        """The submitted "ring first" choice checked against the user's Wazo account; None when
        the field is absent or unchanged."""
        assert requester.person is not None  # Access.PHONE_USER
        text = values.get(RING_FIRST, "").strip()
        current = self.services.settings.ring_first(requester.person.wazo_uuid)
        if not text or text.lower() == current.value:
            return None
        user = await self.services.pbx().confd.get_user(requester.person.wazo_uuid)
        try:
            return choose(user, text)
        except RingFirstError as error:
            raise FieldError(RING_FIRST, str(error)) from None

    async def _apply(self, requester: Requester, values: Values) -> Reply:
        ringing = await self._ring_first(requester, values)  # checked before anything is saved
        busy = values.get(MEETING_BUSY, "").strip().lower()
        if busy not in ("on", "off"):
            raise FieldError(MEETING_BUSY, f"{describe(busy)} is not one of: on, off")
        rules = RuleSettings(
            meeting_busy=busy == "on",
            meeting_calls=await self._target(requester, MEETING_CALLS, MEETING_NUMBER, values),
            dnd_calls=await self._target(requester, DND_CALLS, DND_NUMBER, values),
        )
        assert requester.person is not None  # Access.PHONE_USER
        await self.services.settings.set_call_rules(requester.person.wazo_uuid, requester.jid, rules)
        if ringing is not None:
            await self.services.settings.set_ring_first(requester.person.wazo_uuid, requester.jid, ringing)
        return Done("Saved. " + summary(rules) + (f"\n{ring_first_summary(ringing)}" if ringing else ""))


class _OneSettingCommand(SettingsCommand):
    """Chat only: ``meeting …`` / ``dnd …`` change one setting and keep the others."""

    NODE = None
    CALLS_VAR = ""
    NUMBER_VAR = ""

    def chat_prefill(self, args: str) -> dict[str, str]:
        words = args.split(maxsplit=1)
        if len(words) != 2:
            return {"_usage": args}
        what, value = words[0].lower(), words[1].strip()
        if what == "calls":
            word = _WORDS.get(value.lower())
            return {self.CALLS_VAR: word} if word else {self.CALLS_VAR: "number", self.NUMBER_VAR: value}
        if what == "busy" and self.CALLS_VAR == MEETING_CALLS:
            return {MEETING_BUSY: value.lower()}
        return {"_usage": args}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        if not prefill or "_usage" in prefill:
            raise CommandError(f"say it like this: {self.CHAT_USAGE.split('   ')[0]}")
        return await super().start(requester, prefill)


class MeetingSettingCommand(_OneSettingCommand):
    NAME = "Meeting setting"
    CHAT_COMMAND = "meeting"
    CHAT_USAGE = "meeting busy on|off  or  meeting calls nowhere|voicemail|<number>   during meetings"
    CALLS_VAR = MEETING_CALLS
    NUMBER_VAR = MEETING_NUMBER


class DndSettingCommand(_OneSettingCommand):
    NAME = "Do not disturb setting"
    CHAT_COMMAND = "dnd"
    CHAT_USAGE = "dnd calls nowhere|voicemail|<number>   while your chat status is Do not disturb"
    CALLS_VAR = DND_CALLS
    NUMBER_VAR = DND_NUMBER


class RingFirstSettingCommand(SettingsCommand):
    """Chat only: ``ring first main|all|mobile|line <number or name>`` changes that one setting."""

    NAME = "Ring first setting"
    NODE = None
    CHAT_COMMAND = "ring"
    CHAT_USAGE = f"{RING_HINT}   which of your phones rings first when you place a call"

    def chat_prefill(self, args: str) -> dict[str, str]:
        words = args.split(maxsplit=1)
        if len(words) != 2 or words[0].lower() != "first":
            return {"_usage": args}
        return {RING_FIRST: words[1].strip()}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        assert requester.person is not None  # Access.PHONE_USER
        if RING_FIRST not in prefill:
            raise CommandError(f"say it like this: {RING_HINT}")
        user = await self.services.pbx().confd.get_user(requester.person.wazo_uuid)
        try:
            choice = choose(user, prefill[RING_FIRST])
        except RingFirstError as error:
            raise CommandError(f"{LABELS[RING_FIRST]}: {error}") from None
        await self.services.settings.set_ring_first(requester.person.wazo_uuid, requester.jid, choice)
        lines = f" (your lines: {describe_lines(user)})" if choice.mode is RingMode.ALL else ""
        return Done(f"Saved. {ring_first_summary(choice)}{lines}")
