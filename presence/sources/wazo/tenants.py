"""One component serves one Wazo tenant: find out whether the service account sees several.

A service account created in a parent tenant (the master tenant of a multi-tenant Wazo) sees the
users of every sub-tenant with confd's ``recurse=true``, and its websocket receives their events.
The component keys users by Wazo uuid but maps them to chat users of one set of domains, so it
refuses such an account unless ``wazo.tenant_uuid`` says which tenant to serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from presence.sources.wazo.errors import WazoShapeError
from presence.sources.wazo.http import WazoHttp

TENANT_HINT: Final = (
    "one phonepresence serves one tenant: set wazo.tenant_uuid to the tenant to serve, "
    "or create the service account inside that tenant"
)


class SeveralTenants(Exception):
    """The service account sees users of sub-tenants and no tenant was chosen."""

    def __init__(self, others: int) -> None:
        super().__init__(
            f"the Wazo service account also sees {others} users of other (sub-)tenants; {TENANT_HINT}"
        )
        self.others = others


def _total(body: Any) -> int:
    if not isinstance(body, Mapping) or not isinstance(body.get("total"), int):
        raise WazoShapeError("confd user list", "total", "is missing or not an integer")
    return int(body["total"])


async def users_of_other_tenants(http: WazoHttp) -> int:
    """How many users the account sees beyond its own tenant's: confd's totals with and without
    ``recurse=true`` (two one-item pages, whatever the number of users)."""
    own = await http.request_parsed(_total, "confd", "GET", "/users", params={"limit": "1"})
    every = await http.request_parsed(
        _total, "confd", "GET", "/users", params={"limit": "1", "recurse": "true"}
    )
    return max(0, every - own)


async def check_single_tenant(http: WazoHttp, chosen_tenant: str | None) -> None:
    """Raise :class:`SeveralTenants` when the account spans tenants and none was chosen."""
    if chosen_tenant:
        return
    others = await users_of_other_tenants(http)
    if others:
        raise SeveralTenants(others)
