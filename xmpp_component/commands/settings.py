""" "Settings": what happens during meetings and while the chat status is Do not disturb, and
which call notices the user gets in the chat.

Ad-hoc form with every field, or chat text: ``settings`` shows them; ``meeting busy on|off``;
``meeting calls nowhere|voicemail|<number>``; ``dnd calls nowhere|voicemail|<number>`` (``off`` is
nowhere); ``ring first main|all|mobile|line <number or name>`` (which of one's phones rings
first when placing a call); ``missed calls on|off``; ``incoming calls on|off``. Only one's own
settings; a number is checked like the Call command's (extensions pass); "my voicemail" is
refused when the user has no voicemail box on Wazo.
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
from xmpp_component.user_settings import CallNotices

MEETING_BUSY = "meeting_busy"
MEETING_CALLS = "meeting_calls"
MEETING_NUMBER = "meeting_number"
DND_CALLS = "dnd_calls"
DND_NUMBER = "dnd_number"
RING_FIRST = "ring_first"
MISSED_CALLS = "missed_calls"
INCOMING_CALLS = "incoming_calls"

LABELS = {
    MEETING_BUSY: "During meetings, show In a meeting",
    MEETING_CALLS: "During meetings, send calls to",
    MEETING_NUMBER: "During meetings, number",
    DND_CALLS: "When Do not disturb, send calls to",
    DND_NUMBER: "When Do not disturb, number",
    RING_FIRST: "When I place a call, ring first",
    MISSED_CALLS: "Missed-call notices",
    INCOMING_CALLS: "Incoming-call notices",
}
_NOTICE_ON_OFF = (Option("on", "On"), Option("off", "Off"))
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
NOTICES_HINT = "missed calls on|off, incoming calls on|off"


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


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def notices_summary(notices: CallNotices) -> str:
    return (
        f"Chat notices: missed calls {_on_off(notices.missed_calls)}, "
        f"incoming calls {_on_off(notices.incoming_calls)}."
    )


def _notice_value(values: Values, var: str, current: bool) -> bool:
    """An on/off field; absent (a client that submits only some fields) keeps the current value."""
    if var not in values:
        return current
    value = values[var].strip().lower()
    if value not in ("on", "off"):
        raise FieldError(var, f"{describe(value)} is not one of: on, off")
    return value == "on"


def notices_from(values: Values, current: CallNotices) -> CallNotices:
    return CallNotices(
        missed_calls=_notice_value(values, MISSED_CALLS, current.missed_calls),
        incoming_calls=_notice_value(values, INCOMING_CALLS, current.incoming_calls),
    )


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
        notices = self.services.settings.notices(requester.person.wazo_uuid)
        situation = self.services.situation(requester) if self.services.situation else ""
        ringing = self.services.settings.ring_first(requester.person.wazo_uuid)
        if "_show" in prefill:
            parts = (
                situation,
                summary(current),
                ring_first_summary(ringing),
                notices_summary(notices),
                CHAT_HINT + ", " + RING_HINT + ", " + NOTICES_HINT,
            )
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
                Field(
                    MISSED_CALLS,
                    "Chat notice of each missed call",
                    kind="list-single",
                    value=_on_off(notices.missed_calls),
                    options=_NOTICE_ON_OFF,
                    required=True,
                ),
                Field(
                    INCOMING_CALLS,
                    "Chat notice while my phone rings",
                    kind="list-single",
                    value=_on_off(notices.incoming_calls),
                    options=_NOTICE_ON_OFF,
                    required=True,
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
        settings = self.services.settings
        current_notices = settings.notices(requester.person.wazo_uuid)
        notices = notices_from(values, current_notices)  # checked before anything is saved
        await settings.set_call_rules(requester.person.wazo_uuid, requester.jid, rules)
        lines = ["Saved. " + summary(rules)]
        if ringing is not None:
            await settings.set_ring_first(requester.person.wazo_uuid, requester.jid, ringing)
            lines.append(ring_first_summary(ringing))
        if notices != current_notices:
            await settings.set_notices(requester.person.wazo_uuid, requester.jid, notices)
            lines.append(notices_summary(notices))
        return Done("\n".join(lines))


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


class _NoticeSettingCommand(Command):
    """Chat only: ``missed calls on|off`` / ``incoming calls on|off`` (the other settings stay)."""

    VAR = ""

    def chat_prefill(self, args: str) -> dict[str, str]:
        return {self.VAR: args.strip().lower()} if args.strip() else {}

    async def start(self, requester: Requester, prefill: Values) -> Reply:
        assert requester.person is not None  # Access.PHONE_USER
        if self.VAR not in prefill:
            raise CommandError(f"say it like this: {self.CHAT_USAGE.split('   ')[0]}")
        settings = self.services.settings
        try:
            notices = notices_from(prefill, settings.notices(requester.person.wazo_uuid))
        except FieldError as error:
            return Done(f"{LABELS.get(error.var, error.var)}: {error.message}", level="error")
        await settings.set_notices(requester.person.wazo_uuid, requester.jid, notices)
        return Done("Saved. " + notices_summary(notices))


class MissedCallsSettingCommand(_NoticeSettingCommand):
    NAME = "Missed-call notices"
    CHAT_COMMAND = "missed calls"
    CHAT_USAGE = "missed calls on|off   a chat message for each call you missed"
    VAR = MISSED_CALLS


class IncomingCallsSettingCommand(_NoticeSettingCommand):
    NAME = "Incoming-call notices"
    CHAT_COMMAND = "incoming calls"
    CHAT_USAGE = "incoming calls on|off   a chat message while your phone rings"
    VAR = INCOMING_CALLS
