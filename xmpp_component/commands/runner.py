"""What both adapters do around a command step: access check, errors turned into notes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from xmpp_component.commands.base import (
    Command,
    CommandError,
    Done,
    FieldError,
    Form,
    Reply,
    Requester,
    Values,
    refusal,
)

log = logging.getLogger(__name__)


async def guarded(step: Callable[[], Awaitable[Reply]], what: str) -> Reply:
    """Run a step; a :class:`CommandError` or an unexpected failure ends it with an error note
    (never a traceback to the user)."""
    try:
        return await step()
    except CommandError as error:
        return Done(_sentence(str(error)), level="error")
    except FieldError:
        raise
    except Exception:
        log.exception("command step %s failed", what)
        return Done("Sorry, something went wrong on the service side; it has been logged.", level="error")


async def start(command: Command, requester: Requester, prefill: Values) -> Reply:
    reason = refusal(command.ACCESS, requester)
    if reason is not None:
        command.services.count_command(command.NAME, "refused")
        return Done(_sentence(reason), level="error")
    reply = await guarded(lambda: command.start(requester, prefill), command.NAME)
    outcome = "form" if isinstance(reply, Form) else ("error" if reply.level == "error" else "done")
    command.services.count_command(command.NAME, outcome)
    return reply


async def submit(form: Form, values: Values) -> tuple[Reply, bool]:
    """The form's handler with the submitted values, and whether they were refused: a
    :class:`FieldError` gives the form again, with the user's values kept and a note naming the field."""
    # A client completing without sending the form back means "as shown": hidden values stand.
    values = {**{f.var: f.value for f in form.fields if f.kind == "hidden"}, **values}
    try:
        return await guarded(lambda: form.handler(values), form.title), False
    except FieldError as error:
        fld = form.field(error.var)
        label = fld.label if fld is not None else error.var
        fields = [
            replace(f, value=values.get(f.var, f.value)) if f.kind == "text-single" else f
            for f in form.fields
        ]
        return replace(form, fields=fields, notes=[("error", f"{label}: {error.message}")]), True


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
