"""Which directory sources "call <name>" searches, built from the configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from presence.directory import CombinedDirectory, Directory, WazoUsersDirectory
from presence.directory.address_book import COMPANY_BOOK, AddressBookDirectory, AddressBooks, personal_book
from presence.identity import People
from presence.sources.carddav import AddressBookSync, CardDavReader
from presence.sources.dav_names import is_single_segment
from store import StateStore
from xmpp_component.config import Config

if TYPE_CHECKING:
    from presence.sources.ldap_directory import LdapSettings

log = logging.getLogger(__name__)


def ldap_settings(config: Config) -> LdapSettings:
    # Imported only where LDAP is configured: ldap3 costs every start 50 ms otherwise.
    from presence.sources.ldap_directory import LdapSettings

    ldap = config.ldap
    return LdapSettings(
        uris=ldap.uris,
        base_dn=ldap.base_dn,
        bind_dn=ldap.bind_dn,
        password=config.ldap_password,
        flavour=ldap.flavour,
        scope=ldap.scope,
        object_filter=ldap.object_filter,
        name_attributes=ldap.name_attributes,
        phone_attributes=ldap.phone_attributes,
        start_tls=ldap.start_tls,
        ca_file=ldap.ca_file,
        size_limit=ldap.size_limit,
        page_size=ldap.page_size,
        timeout=ldap.timeout,
    )


def build_directory(
    config: Config, confd: Callable[[], Any], books: AddressBooks | None = None
) -> CombinedDirectory:
    sources: list[Directory] = [WazoUsersDirectory(confd, mobiles=config.directory.wazo_mobiles)]
    if config.ldap.enabled:
        from presence.sources.ldap_directory import LdapDirectory

        sources.append(LdapDirectory(ldap_settings(config)))
    carddav = config.carddav
    if carddav.enabled and books is not None:
        if carddav.personal_url_template:
            sources.append(AddressBookDirectory(books, "personal", personal_book))
        if carddav.company_url:
            sources.append(AddressBookDirectory(books, "company", lambda _owner: COMPANY_BOOK))
    return CombinedDirectory(
        sources,
        limit=config.calls.search_max_results,
        deadline=config.directory.deadline,
        region=config.calls.default_region,
    )


def address_book_sync(config: Config, store: StateStore, books: AddressBooks) -> AddressBookSync | None:
    carddav = config.carddav
    if not carddav.enabled:
        return None
    assert config.carddav_password is not None  # parse_config requires it
    reader = CardDavReader(
        carddav.username, config.carddav_password.reveal(), carddav.request_timeout, carddav.verify_tls
    )
    sync = AddressBookSync(reader, store, books, carddav.poll_interval)
    set_address_book_users(config, sync, People())
    return sync


def set_address_book_users(config: Config, sync: AddressBookSync, people: People) -> None:
    """The books to sync: the company's, and each provisioned user's own."""
    carddav = config.carddav
    urls = {COMPANY_BOOK: carddav.company_url} if carddav.company_url else {}
    if carddav.personal_url_template:
        for jid in people.by_chat_jid:
            if not is_single_segment(jid.split("@")[0]):
                # "x%2f..%2falice" is a valid localpart, and a path to alice's book once the
                # server decodes it: such a user gets no personal book rather than someone else's.
                log.warning("carddav: no personal address book for %s (its localpart would be a path)", jid)
                continue
            url = carddav.personal_url_template.format(localpart=jid.split("@")[0], email=jid)
            urls[personal_book(jid)] = url
    sync.set_books(urls)
