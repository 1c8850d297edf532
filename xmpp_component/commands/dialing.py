"""Placing a call for a requester: rate limit, their own Wazo user and main line, calld origination."""

from __future__ import annotations

import logging

from presence.phone_numbers import DialFormat, DialInputError, DialPlan, DialTarget, TargetKind, parse_number
from presence.sources.wazo.errors import WazoError
from xmpp_component.commands.base import CommandError, Done, FieldError, Requester
from xmpp_component.commands.services import CommandServices
from xmpp_component.config import CallsSection
from xmpp_component.ring_first import Origin, RingFirstError, origin

log = logging.getLogger(__name__)

# calld's refusals (reference wazo-api.md §7.1), said for a person.
_REFUSALS = {
    "invalid-extension": "the phone system refused to dial {number}: it is not a number it can reach",
    "call-origin-unavailable": "your phone is not registered (off or disconnected), so it cannot ring",
    "user-missing-main-line": "your phone user has no line to ring",
    "invalid-user": "the phone system does not know your phone user",
    "call-creation": "the phone system could not create the call",
    "invalid-user-line": "the line you chose to ring first is not yours on the phone system",
}


def dial_target(services: CommandServices, number: str, var: str = "number") -> DialTarget:
    """A number from a form, a directory or a voicemail, checked again (it may have been forged)."""
    try:
        return parse_number(number, services.calls.default_region, services.calls.extension_max_digits)
    except DialInputError as error:
        raise FieldError(var, f"{number!r} {error}") from None


def dial_plan(calls: CallsSection) -> DialPlan:
    return DialPlan(DialFormat(calls.dial_format), calls.default_region, calls.outgoing_prefix)


def dialled_note(services: CommandServices, target: DialTarget) -> str:
    """The text telling which digits the PBX was given for a public number (extensions: none)."""
    if target.kind is TargetKind.EXTENSION:
        return ""
    return f", dialled as {dial_plan(services.calls).pbx_number(target)}"


async def place_call(
    services: CommandServices, requester: Requester, target: DialTarget, who: str = ""
) -> Done:
    """Ring the requester's own phone; the call to ``target`` goes out when they pick up."""
    person = requester.person
    if person is None:  # refused earlier by the access check; kept for safety
        raise CommandError(f"{requester.jid} is not provisioned")
    wait = services.call_limiter.acquire(requester.jid)
    if wait is not None:
        raise CommandError(
            f"too many calls: at most {services.calls.max_calls_per_minute} per minute; "
            f"try again in {max(1, round(wait))} s"
        )
    wazo = services.pbx()
    shown = f"{who} ({target.display})" if who else target.display
    dialled = dial_plan(services.calls).pbx_number(target)
    source: Origin | None = None
    try:
        # The copy read at provisioning is current unless a Wazo event said the user changed.
        known = services.known_pbx_user
        user = (known(person.wazo_uuid) if known is not None else None) or await wazo.confd.get_user(
            person.wazo_uuid
        )
        try:  # the user's choice of phone (Settings: ring first), checked against Wazo now
            source = origin(user, services.settings.ring_first(person.wazo_uuid))
        except RingFirstError as error:
            raise CommandError(str(error)) from None
        await wazo.calld.originate(
            person.wazo_uuid,
            dialled,
            source.context,
            line_id=source.line_id,
            all_lines=source.all_lines,
            from_mobile=source.from_mobile,
        )
    except WazoError as error:
        services.count_origination("refused")
        log.info("origination for %s to %s refused: %s", requester.jid, dialled, error.error_id)
        template = _REFUSALS.get(error.error_id)
        if error.error_id == "call-creation" and source is not None and source.from_mobile:
            raise CommandError(
                "the phone system could not ring your mobile (no number, or one it cannot dial); "
                "change it with: ring first main"
            ) from None
        if template is not None:
            number = target.display + (f" (dialled as {dialled})" if dialled != target.display else "")
            raise CommandError(template.format(number=number)) from None
        if error.retryable:
            raise CommandError("the phone system did not answer; try again in a moment") from None
        raise CommandError(f"the phone system refused the call ({error.error_id})") from None
    assert source is not None  # set before calld accepted the call
    services.count_origination("placed")
    log.info("%s calls %s", requester.jid, dialled)
    return Done(
        f"Calling {shown}{dialled_note(services, target)}: {source.phone} "
        f"{'ring' if source.all_lines else 'rings'} first; "
        "the call goes out when you pick up.",
        numbers=(target.dial,),
    )
