"""XEP-0147 links that start the call command, e.g. ``xmpp:phone.example.org?command;node=call;number=1002``.

XEP-0050 has no standard way to pass the number: the ``number`` parameter is read by this component
when a client forwards it as a field of the execute request's form; clients that do not simply
open the "Call" form. Chat replies carry the link and the equivalent text command.
"""

from __future__ import annotations

from urllib.parse import quote


def call_link(component_jid: str, number: str) -> str:
    return f"xmpp:{component_jid}?command;node=call;number={quote(number, safe='')}"
