"""Configuration: one TOML file, secrets from the environment (or a file), strictly validated.

Every key is declared once, here, with its type, default and a check; the loader refuses unknown
keys, wrong types and impossible values with one message naming the key (``section.key``) and what
was expected. Secrets are wrapped in :class:`Secret` so they cannot leak through logs or reprs.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from slixmpp.jid import JID, InvalidJID

from presence.sources.wazo.config import Secret


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key at fault."""


Check = Callable[[Any], str | None]  # returns what was expected, or None when the value is fine


def key(default: Any = MISSING, check: Check | None = None, doc: str = "") -> Any:
    """Declare one configuration key."""
    metadata = {"check": check, "doc": doc}
    if isinstance(default, Mapping):  # dataclasses refuse unhashable defaults; share a frozen copy
        frozen = MappingProxyType(dict(default))
        return field(default_factory=lambda: frozen, metadata=metadata)
    return field(default=default, metadata=metadata)


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a TCP port between 1 and 65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "a number greater than 0"


def _share(value: float) -> str | None:
    return None if 0 < value <= 1 else "a share greater than 0 and at most 1 (0.2 is 20 %)"


def _domain(value: str) -> str | None:
    try:
        jid = JID(value)
    except InvalidJID:
        return "a valid XMPP domain such as phone.example.org"
    if jid.user or jid.resource or not value:
        return "a bare XMPP domain such as phone.example.org (no user@ or /resource)"
    return None


def _domains(values: tuple[str, ...]) -> str | None:
    for value in values:
        if _domain(value):
            return f"a list of XMPP domains ({value!r} is not one)"
    return None


def _bare_jids(values: tuple[str, ...]) -> str | None:
    for value in values:
        try:
            jid = JID(value)
        except InvalidJID:
            return f"a list of bare JIDs such as admin@example.org ({value!r} is not valid)"
        if not jid.user or jid.resource:
            return f"a list of bare JIDs such as admin@example.org ({value!r} is not a bare user JID)"
    return None


def _env_name(value: str) -> str | None:
    if value and (value[0].isalpha() or value[0] == "_") and value.replace("_", "a").isalnum():
        return None
    return "the name of an environment variable (letters, digits, _)"


def _postgres_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or len(parts.path) < 2:
        return "a postgresql://user@host:port/database URL"
    if parts.password is not None:
        return "a URL without a password (put it in store.password_env or store.password_file)"
    return None


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return "an http:// or https:// URL such as https://wazo.example.org"


def _ca_file(value: str) -> str | None:
    if not value:
        return None
    try:
        ssl.create_default_context(cafile=value)
    except ssl.SSLError:  # before OSError, of which it is a subclass
        return f"a PEM file of CA certificates ({value} holds none that can be loaded)"
    except OSError as exc:
        return f"a readable PEM file of CA certificates ({value}: {exc.strerror or exc})"
    return None


def _token_lifetime(value: int) -> str | None:
    # wazo-auth accepts 1..315360000 s; under a minute the renewals would be busier than the events.
    return None if 60 <= value <= 315360000 else "a number of seconds between 60 and 315360000"


def _log_level(value: str) -> str | None:
    levels = ("debug", "info", "warning", "error")
    return None if value.lower() in levels else "one of " + ", ".join(levels)


@dataclass(frozen=True)
class ComponentSection:
    jid: str = key(check=_domain, doc="the component's domain, e.g. phone.example.org")
    server_host: str = key("127.0.0.1", doc="host of the XMPP server's component listener")
    server_port: int = key(5347, check=_port, doc="port of the XMPP server's component listener")
    secret_env: str = key(
        "PHONEPRESENCE_COMPONENT_SECRET", check=_env_name, doc="environment variable holding the secret"
    )
    secret_file: str = key("", doc="file holding the secret (used when the variable is unset)")
    user_domains: tuple[str, ...] = key((), check=_domains, doc="domains whose users get phone presence")
    admins: tuple[str, ...] = key((), check=_bare_jids, doc="JIDs allowed to run admin commands")
    reconnect_min_delay: float = key(1.0, check=_positive, doc="first delay before reconnecting (s)")
    reconnect_max_delay: float = key(60.0, check=_positive, doc="longest delay between reconnects (s)")
    keepalive_interval: float = key(
        30.0, check=_positive, doc="ping the XMPP server this often to detect a dead connection (s)"
    )
    keepalive_timeout: float = key(
        30.0, check=_positive, doc="reconnect when a ping or the handshake gets no answer within this (s)"
    )


@dataclass(frozen=True)
class StoreSection:
    path: str = key("phonepresence.sqlite", doc="SQLite database file (created if missing)")
    url: str = key(
        "",
        check=_postgres_url,
        doc="PostgreSQL instead of SQLite, e.g. postgresql://phonepresence@db.example.org:5432/phonepresence "
        "(an active/standby pair shares it)",
    )
    password_env: str = key(
        "PHONEPRESENCE_STORE_PASSWORD", check=_env_name, doc="environment variable holding its password"
    )
    password_file: str = key(
        "", doc="file holding the password (used when the variable is unset; none: ~/.pgpass or trust)"
    )


@dataclass(frozen=True)
class WazoSection:
    enabled: bool = key(False, doc="follow phone state through a Wazo stack")
    base_url: str = key("https://localhost", check=_http_url, doc="where wazo's nginx serves /api/*")
    username: str = key("phonepresence", doc="wazo-auth service account (purpose external_api)")
    password_env: str = key(
        "PHONEPRESENCE_WAZO_PASSWORD", check=_env_name, doc="environment variable holding its password"
    )
    password_file: str = key("", doc="file holding the password (used when the variable is unset)")
    tenant_uuid: str = key("", doc="tenant to act in; empty means the account's own tenant")
    verify_tls: bool = key(True, doc="verify Wazo's TLS certificate")
    ca_file: str = key(
        "",
        check=_ca_file,
        doc="PEM file of the CA (or self-signed certificate) Wazo's certificate is checked against",
    )
    token_expiration: int = key(3600, check=_token_lifetime, doc="lifetime asked for service tokens (s)")
    request_timeout: float = key(10.0, check=_positive, doc="timeout of one REST request (s)")
    users_refresh_interval: float = key(
        900.0, check=_positive, doc="read Wazo's whole user list this often, besides its events (s)"
    )
    calls_reconcile_interval: float = key(
        300.0, check=_positive, doc="read Wazo's current calls this often, in case an event was lost (s)"
    )


def _match_rule(value: str) -> str | None:
    return None if value in ("email", "username") else '"email" or "username"'


def _overrides(value: dict[str, str]) -> str | None:
    return _bare_jids(tuple(value)) and "a table whose keys are bare chat JIDs"


@dataclass(frozen=True)
class IdentitySection:
    match: str = key("email", check=_match_rule, doc="how a Wazo user is matched to a chat JID")
    overrides: dict[str, str] = key(  # noqa: RUF009  # key() freezes it
        {}, check=_overrides, doc="chat JID -> Wazo user uuid, email or username"
    )


@dataclass(frozen=True)
class PresenceSection:
    allow_remote_domains: tuple[str, ...] = key(
        (), check=_domains, doc="other domains whose users may subscribe"
    )
    allow_remote_jids: tuple[str, ...] = key((), check=_bare_jids, doc="other JIDs that may subscribe")
    roster_colleagues: bool = key(False, doc="with XEP-0356 roster access: add colleagues' phone JIDs")
    roster_group: str = key("Phones", doc="roster group of the phone contacts added that way")
    privilege_grace: float = key(1.0, check=_positive, doc="wait this long for XEP-0356 privileges (s)")
    max_revocation_share: float = key(
        0.2,
        check=_share,
        doc="largest share of stored subscriptions one enforcement run drops without an admin's confirmation",
    )


def _region(value: str) -> str | None:
    ok = value in phonenumbers.SUPPORTED_REGIONS
    return None if ok else "a two-letter region code phonenumbers knows, such as FR, DE or US"


def _calls_per_minute(value: int) -> str | None:
    return None if 1 <= value <= 1000 else "an integer between 1 and 1000"


def _extension_digits(value: int) -> str | None:
    return None if 1 <= value <= 15 else "an integer between 1 and 15"


def _search_results(value: int) -> str | None:
    return None if 1 <= value <= 100 else "an integer between 1 and 100"


def _dial_format(value: str) -> str | None:
    formats = ("e164", "e164_no_plus", "national")
    return None if value in formats else "one of " + ", ".join(f'"{f}"' for f in formats)


def _outgoing_prefix(value: str) -> str | None:
    ok = len(value) <= 6 and all(c in "0123456789*#" for c in value)
    return None if ok else 'digits (and * #) the PBX wants before outside numbers, at most 6, e.g. "0"'


def _history_size(value: int) -> str | None:
    return None if 1 <= value <= 10000 else "an integer between 1 and 10000"


def _missed_call_wait(value: float) -> str | None:
    return None if 0 <= value <= 600 else "a number of seconds between 0 and 600"


@dataclass(frozen=True)
class CallsSection:
    default_region: str = key("FR", check=_region, doc="region for numbers typed without +country code")
    extension_max_digits: int = key(
        6, check=_extension_digits, doc="all-digit input up to this length is a PBX extension"
    )
    max_calls_per_minute: int = key(10, check=_calls_per_minute, doc="calls one user may place per minute")
    search_max_results: int = key(20, check=_search_results, doc="rows at most in a name search pick list")
    dial_format: str = key(
        "e164",
        check=_dial_format,
        doc="how public numbers are sent to the PBX: e164, e164_no_plus or national",
    )
    outgoing_prefix: str = key("", check=_outgoing_prefix, doc="digits dialled before every public number")
    history_size: int = key(200, check=_history_size, doc="calls kept per user in the call history")
    missed_call_wait: float = key(
        30.0,
        check=_missed_call_wait,
        doc="seconds a missed-call notice waits for a voicemail that would replace it",
    )


def _log_format(value: str) -> str | None:
    return None if value in ("text", "json") else '"text" or "json"'


def _url_template(value: str) -> str | None:
    if not value:
        return None
    if _http_url(value.replace("{localpart}", "x").replace("{email}", "x")) or "{" not in value:
        return "an http(s) URL with {localpart} or {email}, e.g. https://dav.example.org/{email}/calendar/"
    try:
        value.format(localpart="x", email="x")
    except (KeyError, IndexError, ValueError):
        return "an http(s) URL whose only placeholders are {localpart} and {email}"
    return None


def _discovery_url(value: str) -> str | None:
    return (
        _http_url(value) and "an http(s) URL of the CalDAV server, e.g. https://dav.example.org/"
        if value
        else None
    )


def _principal_name(value: str) -> str | None:
    try:
        name = value.format(localpart="x", email="x@y")
    except (KeyError, IndexError, ValueError):
        return "a name whose only placeholders are {localpart} and {email}, e.g. {localpart}"
    return None if name and "/" not in name else "a non-empty name without /, e.g. {localpart} or {email}"


def _zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone such as Europe/Paris"
    return None


@dataclass(frozen=True)
class CalendarSection:
    enabled: bool = key(False, doc="read users' calendars (CalDAV) for meetings")
    url_template: str = key(
        "",
        check=_url_template,
        doc="each user's calendar collection, with {localpart} or {email} of their chat address",
    )
    server_url: str = key(
        "",
        check=_discovery_url,
        doc="instead of url_template: the CalDAV server where each user's calendars are discovered",
    )
    principal_name: str = key(
        "{localpart}",
        check=_principal_name,
        doc="with server_url: the user's name on the CalDAV server, with {localpart} or {email}",
    )
    username: str = key("phonepresence", doc="CalDAV service account that may read every user's calendar")
    password_env: str = key(
        "PHONEPRESENCE_CALDAV_PASSWORD", check=_env_name, doc="environment variable holding its password"
    )
    password_file: str = key("", doc="file holding the password (used when the variable is unset)")
    poll_interval: float = key(60.0, check=_positive, doc="every calendar is read once per interval (s)")
    all_day_busy: bool = key(False, doc="all-day events count as meetings")
    timezone: str = key("UTC", check=_zone, doc="time zone of event times written without one")
    verify_tls: bool = key(True, doc="verify the CalDAV server's TLS certificate")
    request_timeout: float = key(10.0, check=_positive, doc="timeout of one CalDAV request (s)")


def _query_length(value: int) -> str | None:
    return None if 1 <= value <= 10 else "an integer between 1 and 10"


def _searches_per_minute(value: int) -> str | None:
    return None if 1 <= value <= 10000 else "an integer between 1 and 10000"


@dataclass(frozen=True)
class DirectorySection:
    min_query_length: int = key(
        2, check=_query_length, doc="shorter names are refused (stops listing the directory)"
    )
    searches_per_minute: int = key(
        30, check=_searches_per_minute, doc="name searches one user may run per minute"
    )
    deadline: float = key(2.0, check=_positive, doc="sources that have not answered by then are left out (s)")
    wazo_mobiles: bool = key(True, doc="colleagues' mobile numbers (from Wazo) are searchable and shown")


def _ldap_uris(values: tuple[str, ...]) -> str | None:
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
            return f"a list of ldap:// or ldaps:// server URIs ({value!r} is not one)"
    return None


def _ldap_flavour(value: str) -> str | None:
    return None if value in ("openldap", "activedirectory") else '"openldap" or "activedirectory"'


def _ldap_scope(value: str) -> str | None:
    return None if value in ("base", "one", "sub") else '"base", "one" or "sub"'


def _attribute_names(values: tuple[str, ...]) -> str | None:
    for value in values:
        if not value or not value[0].isalpha() or not value.replace("-", "a").isalnum():
            return f"a list of LDAP attribute names ({value!r} is not one)"
    return None


def _object_filter(value: str) -> str | None:
    if not value:
        return None
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    ok = value.startswith("(") and value.endswith(")") and depth == 0
    return None if ok else "an LDAP filter in parentheses, e.g. (objectClass=inetOrgPerson)"


def _limit(value: int) -> str | None:
    return None if 1 <= value <= 1000 else "an integer between 1 and 1000"


@dataclass(frozen=True)
class LdapSection:
    enabled: bool = key(False, doc="search the company directory in LDAP / Active Directory")
    uris: tuple[str, ...] = key((), check=_ldap_uris, doc="servers tried in order, ldap:// or ldaps://")
    flavour: str = key(
        "openldap", check=_ldap_flavour, doc='"openldap" (inetOrgPerson) or "activedirectory" defaults'
    )
    base_dn: str = key("", doc="where people are searched, e.g. ou=people,dc=example,dc=org")
    scope: str = key("sub", check=_ldap_scope, doc="base, one (one level) or sub (whole subtree)")
    bind_dn: str = key("", doc="account the component binds as (read only); empty: anonymous")
    password_env: str = key(
        "PHONEPRESENCE_LDAP_PASSWORD", check=_env_name, doc="environment variable holding its password"
    )
    password_file: str = key("", doc="file holding the password (used when the variable is unset)")
    start_tls: bool = key(False, doc="upgrade ldap:// connections with StartTLS")
    ca_file: str = key("", doc="CA certificates (PEM) to verify the server; empty: the system's")
    object_filter: str = key(
        "", check=_object_filter, doc="which entries are people; empty: the flavour's default"
    )
    name_attributes: tuple[str, ...] = key(
        (), check=_attribute_names, doc="attributes a name is searched in; empty: the flavour's default"
    )
    phone_attributes: tuple[str, ...] = key(
        (), check=_attribute_names, doc="attributes holding numbers; empty: the flavour's default"
    )
    size_limit: int = key(50, check=_limit, doc="people read at most per search")
    page_size: int = key(50, check=_limit, doc="people per page (paged results control)")
    timeout: float = key(2.0, check=_positive, doc="connect and answer timeout (s)")


def _book_template(value: str) -> str | None:
    problem = _url_template(value)  # the same rules as the calendar's, with a book as example
    return problem.replace("/calendar/", "/contacts/") if problem else None


@dataclass(frozen=True)
class CardDavSection:
    enabled: bool = key(False, doc="search CardDAV address books (company book and personal books)")
    company_url: str = key("", doc="the company address book collection; empty: none")
    personal_url_template: str = key(
        "",
        check=_book_template,
        doc="each user's own address book, with {localpart} or {email} of their chat address; empty: none",
    )
    username: str = key("phonepresence", doc="CardDAV service account that may read those books")
    password_env: str = key(
        "PHONEPRESENCE_CARDDAV_PASSWORD", check=_env_name, doc="environment variable holding its password"
    )
    password_file: str = key("", doc="file holding the password (used when the variable is unset)")
    poll_interval: float = key(300.0, check=_positive, doc="every book is synced once per interval (s)")
    verify_tls: bool = key(True, doc="verify the CardDAV server's TLS certificate")
    request_timeout: float = key(10.0, check=_positive, doc="timeout of one CardDAV request (s)")


@dataclass(frozen=True)
class LoggingSection:
    level: str = key("info", check=_log_level, doc="debug, info, warning or error")
    format: str = key(
        "text", check=_log_format, doc='"text" (one line per record) or "json" (one object per line)'
    )
    personal_data: bool = key(False, doc="show chat addresses and phone numbers in logs (masked otherwise)")


def _ops_port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "a TCP port between 1 and 65535 (0: any free port)"


@dataclass(frozen=True)
class OpsSection:
    enabled: bool = key(True, doc="serve /metrics, /healthz and /readyz over HTTP")
    bind: str = key("127.0.0.1", doc="address the ops HTTP endpoint listens on")
    port: int = key(9750, check=_ops_port, doc="port of the ops HTTP endpoint (0: any free port)")


def _link_lifetime(value: int) -> str | None:
    # Past a year a leaked link is a standing key to the recording; under a minute it is dead on arrival.
    return None if 60 <= value <= 366 * 86400 else "a number of seconds between 60 and 31622400"


def _base_url(value: str) -> str | None:
    return _http_url(value) if value else None


@dataclass(frozen=True)
class HttpSection:
    enabled: bool = key(False, doc="serve the voicemail recording links over HTTP")
    bind: str = key("127.0.0.1", doc="address the links' HTTP listener listens on (behind a reverse proxy)")
    port: int = key(9751, check=_ops_port, doc="port of the links' HTTP listener (0: any free port)")
    public_base_url: str = key(
        "", check=_base_url, doc="the listener's address as users reach it, e.g. https://phone.example.org"
    )
    link_lifetime: int = key(
        7 * 86400, check=_link_lifetime, doc="seconds a recording link stays valid (default 7 days)"
    )
    link_key_env: str = key(
        "PHONEPRESENCE_HTTP_LINK_KEY", check=_env_name, doc="environment variable holding the links' key"
    )
    link_key_file: str = key("", doc="file holding the links' key (used when the variable is unset)")


# Shorter keys would make the links' signatures guessable by brute force.
MIN_LINK_KEY_LENGTH = 16


SECTIONS: dict[str, type] = {
    "component": ComponentSection,
    "store": StoreSection,
    "wazo": WazoSection,
    "identity": IdentitySection,
    "presence": PresenceSection,
    "calls": CallsSection,
    "calendar": CalendarSection,
    "directory": DirectorySection,
    "directory.ldap": LdapSection,
    "directory.carddav": CardDavSection,
    "logging": LoggingSection,
    "ops": OpsSection,
    "http": HttpSection,
}


@dataclass(frozen=True)
class Config:
    component: ComponentSection
    store: StoreSection
    wazo: WazoSection
    identity: IdentitySection
    presence: PresenceSection
    logging: LoggingSection
    calls: CallsSection
    component_secret: Secret
    wazo_password: Secret | None
    source: Path | None = None
    calendar: CalendarSection = field(default_factory=CalendarSection)
    caldav_password: Secret | None = None
    ops: OpsSection = field(default_factory=OpsSection)
    directory: DirectorySection = field(default_factory=DirectorySection)
    ldap: LdapSection = field(default_factory=LdapSection)
    ldap_password: Secret | None = None
    carddav: CardDavSection = field(default_factory=CardDavSection)
    carddav_password: Secret | None = None
    http: HttpSection = field(default_factory=HttpSection)
    http_link_key: Secret | None = None
    store_password: Secret | None = None


def _type_error(expected: type, value: Any) -> str | None:
    """What was expected, when ``value`` is not of the declared type; TOML types are exact."""
    if expected is bool:
        return None if isinstance(value, bool) else "true or false"
    if expected is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "a number"
    if expected is str:
        return None if isinstance(value, str) else "a string"
    if expected == dict[str, str]:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return None if ok else "a table of strings"
    if expected == tuple[str, ...]:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else "a list of strings"
    raise TypeError(f"unsupported config type {expected!r}")  # a programming error, not user input


def _describe(value: Any) -> str:
    if isinstance(value, str) and "@" in value:
        parts = urlsplit(value)
        if parts.password is not None:  # a password in a URL is a secret too: never echo it
            value = value.replace(f":{parts.password}@", ":***@", 1)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build_section(name: str, cls: type, table: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    # Sub-tables such as [directory.ldap] are sections of their own.
    for unknown in sorted(set(table) - set(known) - {k for k in table if f"{name}.{k}" in SECTIONS}):
        raise ConfigError(f"{name}.{unknown}: unknown key (known keys: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for fname, spec in known.items():
        where = f"{name}.{fname}"
        if fname not in table:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ConfigError(f"{where}: missing; expected {spec.metadata['doc']}")
            continue
        value = table[fname]
        expected = _type_error(hints[fname], value)
        if expected:
            raise ConfigError(f"{where}: expected {expected}, got {_describe(value)}")
        if hints[fname] is float:
            value = float(value)
        elif isinstance(value, list):
            value = tuple(value)  # frozen config: TOML arrays become tuples
        check: Check | None = spec.metadata["check"]
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: expected {problem}, got {_describe(table[fname])}")
        values[fname] = MappingProxyType(dict(value)) if isinstance(value, dict) else value
    return cls(**values)


def _read_secret(env: Mapping[str, str], variable: str, file: str, where: str) -> Secret:
    value = env.get(variable)
    if value:
        return Secret(value)
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}_file: cannot read {file}: {exc.strerror}") from None
        if text:
            return Secret(text)
        raise ConfigError(f"{where}_file: {file} is empty")
    raise ConfigError(
        f"{where}_env: environment variable {variable} is not set (and no {where.split('.')[-1]}_file given)"
    )


def parse_config(
    document: Mapping[str, Any], env: Mapping[str, str] | None = None, source: Path | None = None
) -> Config:
    env = os.environ if env is None else env
    for unknown in sorted(set(document) - {n.split(".")[0] for n in SECTIONS}):
        raise ConfigError(f"{unknown}: unknown section (known sections: {', '.join(SECTIONS)})")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        parent, _, child = name.rpartition(".")
        holder = document.get(parent, {}) if parent else document
        table = holder.get(child, {}) if isinstance(holder, dict) else {}
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a [{name}] table, got {_describe(table)}")
        sections[name] = _build_section(name, cls, table)
    component: ComponentSection = sections["component"]
    if component.reconnect_min_delay > component.reconnect_max_delay:
        raise ConfigError(
            "component.reconnect_min_delay: expected at most component.reconnect_max_delay "
            f"({component.reconnect_max_delay}), got {component.reconnect_min_delay}"
        )
    wazo_section: WazoSection = sections["wazo"]
    if wazo_section.ca_file and not wazo_section.verify_tls:
        raise ConfigError(
            "wazo.verify_tls: expected true when wazo.ca_file is set (a CA file is for verifying)"
        )
    calls: CallsSection = sections["calls"]
    if calls.outgoing_prefix and calls.dial_format == "e164":
        raise ConfigError(
            'calls.outgoing_prefix: expected "" with calls.dial_format = "e164" (nothing can be '
            'dialled before a +), or dial_format "e164_no_plus" or "national"'
        )
    secret = _read_secret(env, component.secret_env, component.secret_file, "component.secret")
    wazo: WazoSection = sections["wazo"]
    password = (
        _read_secret(env, wazo.password_env, wazo.password_file, "wazo.password") if wazo.enabled else None
    )
    calendar: CalendarSection = sections["calendar"]
    if calendar.enabled and not calendar.url_template and not calendar.server_url:
        raise ConfigError(
            "calendar.url_template: missing; expected it (or calendar.server_url, to discover each "
            "user's calendars) when calendar.enabled is true"
        )
    if calendar.url_template and calendar.server_url:
        raise ConfigError(
            "calendar.server_url: expected either calendar.url_template (one calendar per user at a "
            "known URL) or calendar.server_url (discovery), not both"
        )
    caldav_password = (
        _read_secret(env, calendar.password_env, calendar.password_file, "calendar.password")
        if calendar.enabled
        else None
    )
    ldap: LdapSection = sections["directory.ldap"]
    if ldap.enabled and not ldap.uris:
        raise ConfigError("directory.ldap.uris: missing; expected it when directory.ldap.enabled is true")
    if ldap.enabled and not ldap.base_dn:
        raise ConfigError("directory.ldap.base_dn: missing; expected it when directory.ldap.enabled is true")
    ldap_password = (
        _read_secret(env, ldap.password_env, ldap.password_file, "directory.ldap.password")
        if ldap.enabled and ldap.bind_dn
        else None
    )
    carddav: CardDavSection = sections["directory.carddav"]
    if carddav.company_url and _http_url(carddav.company_url):
        raise ConfigError(f"directory.carddav.company_url: expected {_http_url(carddav.company_url)}")
    if carddav.enabled and not (carddav.company_url or carddav.personal_url_template):
        raise ConfigError(
            "directory.carddav.company_url: missing; expected it or personal_url_template "
            "when directory.carddav.enabled is true"
        )
    carddav_password = (
        _read_secret(env, carddav.password_env, carddav.password_file, "directory.carddav.password")
        if carddav.enabled
        else None
    )
    http: HttpSection = sections["http"]
    http_link_key = None
    if http.enabled:
        if not http.public_base_url:
            raise ConfigError(
                "http.public_base_url: missing; expected the address users open the links at "
                "(e.g. https://phone.example.org) when http.enabled is true"
            )
        http_link_key = _read_secret(env, http.link_key_env, http.link_key_file, "http.link_key")
        if len(http_link_key.reveal()) < MIN_LINK_KEY_LENGTH:
            raise ConfigError(
                f"http.link_key: expected at least {MIN_LINK_KEY_LENGTH} characters (a random string, "
                "e.g. from openssl rand -hex 32)"
            )
    store: StoreSection = sections["store"]
    # Optional even with a URL: PostgreSQL may authenticate by ~/.pgpass, a certificate or trust.
    store_password = (
        _read_secret(env, store.password_env, store.password_file, "store.password")
        if store.url and (env.get(store.password_env) or store.password_file)
        else None
    )
    return Config(
        component=component,
        store=sections["store"],
        wazo=wazo,
        identity=sections["identity"],
        presence=sections["presence"],
        logging=sections["logging"],
        calls=sections["calls"],
        component_secret=secret,
        wazo_password=password,
        source=source,
        calendar=calendar,
        caldav_password=caldav_password,
        ops=sections["ops"],
        directory=sections["directory"],
        ldap=ldap,
        ldap_password=ldap_password,
        carddav=carddav,
        carddav_password=carddav_password,
        http=http,
        http_link_key=http_link_key,
        store_password=store_password,
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(document, env, source=path)


def documented_keys() -> dict[str, dict[str, str]]:
    """Each section's keys with their doc strings (used to check the example config stays complete)."""
    return {name: {f.name: f.metadata["doc"] for f in fields(cls)} for name, cls in SECTIONS.items()}
