"""Which directory sources "call <name>" searches, built from the configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from presence.directory import CombinedDirectory, Directory, WazoUsersDirectory
from presence.sources.ldap_directory import LdapDirectory, LdapSettings
from xmpp_component.config import Config


def ldap_settings(config: Config) -> LdapSettings:
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


def build_directory(config: Config, confd: Callable[[], Any]) -> CombinedDirectory:
    sources: list[Directory] = [WazoUsersDirectory(confd, mobiles=config.directory.wazo_mobiles)]
    if config.ldap.enabled:
        sources.append(LdapDirectory(ldap_settings(config)))
    return CombinedDirectory(
        sources,
        limit=config.calls.search_max_results,
        deadline=config.directory.deadline,
        region=config.calls.default_region,
    )
