"""The company directory in LDAP (OpenLDAP inetOrgPerson or Active Directory) as a directory source.

ldap3 is blocking, so every request runs in a small thread pool of its own, each thread taking a
bound connection from a shared pool (a broken one is dropped, the next search binds anew). A stalled
server cannot stall the event loop or the default executor: the search gives up at ``timeout``
(ldap3's receive timeout frees the thread; the coroutine does not wait for it) and the source says
it is unavailable. Referrals are never followed (they would send the bind password elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ldap3 import BASE, LEVEL, SUBTREE, SYNC, Connection, Server, ServerPool, Tls
from ldap3.core.exceptions import LDAPException

from presence.directory.ldap_query import Match, digits_of, search_filter, words_of
from presence.directory.model import DirectoryEntry, DirectoryUnavailable, NumberKind
from presence.sources.wazo.config import Secret

log = logging.getLogger(__name__)

_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_SCOPES = {"base": BASE, "one": LEVEL, "sub": SUBTREE}

# Defaults per server flavour: which attributes a name is searched in, which hold numbers.
PROFILES: dict[str, dict[str, tuple[str, ...] | str]] = {
    "activedirectory": {
        "object_filter": "(&(objectCategory=person)(objectClass=user))",
        "name_attributes": ("displayName", "givenName", "sn"),
        "phone_attributes": ("telephoneNumber", "mobile", "ipPhone", "otherTelephone"),
    },
    "openldap": {
        "object_filter": "(objectClass=inetOrgPerson)",
        "name_attributes": ("cn", "givenName", "sn"),
        "phone_attributes": ("telephoneNumber", "mobile", "homePhone"),
    },
}
_KINDS = {
    "mobile": NumberKind.MOBILE,
    "homephone": NumberKind.HOME,
    "ipphone": NumberKind.EXTENSION,
    "telephonenumber": NumberKind.WORK,
    "othertelephone": NumberKind.WORK,
}


@dataclass(frozen=True)
class LdapSettings:
    uris: tuple[str, ...]
    base_dn: str
    bind_dn: str = ""
    password: Secret | None = None
    flavour: str = "openldap"
    scope: str = "sub"
    object_filter: str = ""
    name_attributes: tuple[str, ...] = ()
    phone_attributes: tuple[str, ...] = ()
    start_tls: bool = False
    ca_file: str = ""
    size_limit: int = 50
    page_size: int = 50
    timeout: float = 2.0
    workers: int = 2
    label: str = "company directory"

    def profile(self, what: str) -> Any:
        return PROFILES[self.flavour][what]


@dataclass
class _Found:
    names: list[str] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (attribute, number)


def _values(attributes: dict[str, Any], name: str) -> list[str]:
    value = attributes.get(name)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if str(value).strip() else []


class LdapDirectory:
    name = "ldap"

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.label = settings.label
        self._object_filter = settings.object_filter or settings.profile("object_filter")
        self._name_attrs: tuple[str, ...] = settings.name_attributes or settings.profile("name_attributes")
        self._phone_attrs: tuple[str, ...] = settings.phone_attributes or settings.profile("phone_attributes")
        self._display_attrs = ("displayName", "cn", "givenName", "sn")
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="ldap")
        self._idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        tls = None
        if any(u.startswith("ldaps://") for u in settings.uris) or settings.start_tls:
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file or None)
        servers = [
            Server(uri, use_ssl=uri.startswith("ldaps://"), tls=tls, connect_timeout=settings.timeout)
            for uri in settings.uris
        ]
        self._servers = ServerPool(servers, "FIRST", active=1, exhaust=False)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().unbind()
            except queue.Empty:
                break
            except LDAPException:
                continue
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def search(self, query: str, owner: str = "") -> Sequence[DirectoryEntry]:
        ldap_filter = search_filter(query, self._object_filter, self._name_attrs, self._phone_attrs)
        if ldap_filter is None:
            return []
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._search_blocking, ldap_filter)
        try:
            found = await asyncio.wait_for(future, self.settings.timeout)
        except TimeoutError:
            raise DirectoryUnavailable(f"no answer within {self.settings.timeout:g} s") from None
        return self._entries(query, found)

    def _entries(self, query: str, found: list[_Found]) -> list[DirectoryEntry]:
        match = Match.of(query)
        if match is None:
            return []
        entries = []
        for person in found:
            numbers = [digits_of(number) for _, number in person.numbers]
            if not person.names or not match.accepts(words_of(person.names), numbers):
                continue  # found by a shorter prefix than the word typed (accented spellings)
            for attribute, number in person.numbers:
                kind = _KINDS.get(attribute.lower(), NumberKind.WORK)
                entries.append(DirectoryEntry(person.names[0], number, kind, self.name))
        return entries

    # --- in a worker thread -------------------------------------------------------------------------

    def _connection(self) -> Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        s = self.settings
        conn = Connection(
            self._servers,
            user=s.bind_dn or None,
            password=s.password.reveal() if s.password else None,
            # SYNC, not SAFE_SYNC: a connection serves one thread at a time (the idle queue hands
            # it out), and SAFE_SYNC deep-copies every response (a fifth of a search's CPU).
            client_strategy=SYNC,
            auto_referrals=False,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds (a float raises struct.error). It
            # only frees the worker thread: the search's deadline is search()'s wait, a second
            # earlier, so a stalled server always reads as "no answer within <timeout> s".
            receive_timeout=math.ceil(s.timeout) + 1,
            read_only=True,
            raise_exceptions=True,
        )
        if s.start_tls:
            conn.open()
            conn.start_tls()
        conn.bind()
        return conn

    def _search_blocking(self, ldap_filter: str) -> list[_Found]:
        s = self.settings
        try:
            conn = self._connection()
        except LDAPException as error:
            log.warning("LDAP %s: cannot connect or bind: %s", ",".join(s.uris), error)
            raise DirectoryUnavailable(f"cannot connect or bind: {type(error).__name__}") from None
        attributes = list(dict.fromkeys((*self._display_attrs, *self._name_attrs, *self._phone_attrs)))
        found: list[_Found] = []
        cookie: bytes | None = None
        try:
            while len(found) < s.size_limit:
                conn.search(
                    s.base_dn,
                    ldap_filter,
                    _SCOPES[s.scope],
                    attributes=attributes,
                    size_limit=s.size_limit,
                    time_limit=max(1, int(s.timeout)),
                    paged_size=min(s.page_size, s.size_limit),
                    paged_cookie=cookie,
                )
                result, response = conn.result, conn.response or []
                found.extend(
                    self._person(r["attributes"]) for r in response if r.get("type") == "searchResEntry"
                )
                cookie = result.get("controls", {}).get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
                if not cookie:
                    break
        except LDAPException as error:
            if "sizeLimitExceeded" in str(error) or "sizelimit" in str(error).lower():
                return found[: s.size_limit]
            log.warning("LDAP search failed: %s", error)
            with contextlib.suppress(LDAPException):
                conn.unbind()
            raise DirectoryUnavailable(f"search failed: {type(error).__name__}") from None
        self._idle.put(conn)
        return found[: s.size_limit]

    def _person(self, attributes: dict[str, Any]) -> _Found:
        person = _Found()
        display = _values(attributes, "displayName") or _values(attributes, "cn")
        given, surname = _values(attributes, "givenName"), _values(attributes, "sn")
        if display:
            person.names.append(display[0])
        elif given or surname:
            person.names.append(" ".join([*given[:1], *surname[:1]]))
        person.names += [*given[:1], *surname[:1]]
        for attribute in self._phone_attrs:
            for number in _values(attributes, attribute):
                person.numbers.append((attribute, number))
        return person
