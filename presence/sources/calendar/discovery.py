"""Finding a user's calendars on a CalDAV server instead of a URL template (RFC 6764 / RFC 4791),
with the ``caldav`` library and the one service account. Blocking: call it in a worker thread.

The usual discovery (``current-user-principal``) finds the calendars of whoever is logged in, and
here that is the service account, not the user. So: from the server URL (the library follows
``/.well-known/caldav``), the service account's principal and its ``principal-collection-set``
(RFC 3744) give where principals live; the user's principal is their name under it (``{localpart}``
by default: Radicale, Baïkal, Nextcloud and SOGo name principals by user name); then its
``calendar-home-set`` and the calendar collections in that home that hold events.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote, urljoin

from caldav.collection import Principal
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as caldav_error

from presence.sources.dav_names import is_single_segment


class DiscoveryFailed(Exception):
    """The server did not lead to the user's calendars; the message names the step."""


class PrincipalDiscovery:
    def __init__(
        self, server_url: str, username: str, password: str, timeout: float, verify_tls: bool = True
    ):
        self._server_url = server_url
        self._username = username
        self._password = password
        self._timeout = timeout
        self._verify_tls = verify_tls
        self._local = threading.local()
        self._principals: str | None = None  # the principal collection's URL, found once

    def _client(self) -> DAVClient:
        client: DAVClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = DAVClient(
                url=self._server_url,
                username=self._username,
                password=self._password,
                timeout=int(self._timeout),
                ssl_verify_cert=self._verify_tls,
            )
        return client

    def principal_collection(self) -> str:
        """Where principals live: the service account's principal's principal-collection-set."""
        if self._principals is None:
            client = self._client()
            try:
                own: Any = client.principal()  # type: ignore[no-untyped-call]
                found: Any = own.get_property(dav.PrincipalCollectionSet(), parse_props=False)
            except caldav_error.DAVError as error:
                raise DiscoveryFailed(f"current-user-principal of the service account: {error}") from None
            href = _first_href(found)
            # Without the property, principals are taken as siblings of the service account's.
            base = str(own.url)
            self._principals = urljoin(base, href) if href else urljoin(base.rstrip("/"), ".")
        return self._principals

    def calendars(self, name: str) -> tuple[str, ...]:
        """The URLs of the calendar collections holding events of the user ``name`` (sorted)."""
        if not is_single_segment(name):
            raise DiscoveryFailed(f"{name!r} is not a name for a principal (a path or an escape)")
        client = self._client()
        principal_url = urljoin(self.principal_collection(), quote(name, safe="@.+-_~") + "/")
        try:
            principal = Principal(client=client, url=principal_url)
            home = principal.calendar_home_set
            calendars: list[Any] = list(home.get_calendars())
        except caldav_error.NotFoundError:
            return ()  # no such principal, or no home: no calendars
        except caldav_error.DAVError as error:
            raise DiscoveryFailed(f"calendars of {name}: {error}") from None
        urls = []
        for calendar in calendars:
            try:
                components = calendar.get_supported_components()
            except caldav_error.DAVError:
                components = ["VEVENT"]  # RFC 4791 5.2.3: absent means every component
            if "VEVENT" in components:
                urls.append(str(calendar.url))
        return tuple(sorted(urls))


def _first_href(found: Any) -> str | None:
    """The text of the first DAV:href inside a property element (None if there is none)."""
    if found is None or isinstance(found, str):
        return found or None
    for element in found.iter("{DAV:}href"):
        if element.text:
            return str(element.text).strip()
    return None
