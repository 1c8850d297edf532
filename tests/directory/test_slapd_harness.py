"""The slapd harness itself: 1,000+ people loaded, non-ASCII and AD-like attributes readable, a
broken configuration fails loudly with the server's log."""

from __future__ import annotations

import pytest
from ldap3 import SAFE_SYNC, SUBTREE, Connection, Server

from devservers.prosody import ServerStartError
from devservers.slapd import KNOWN_PEOPLE, PEOPLE_DN, SlapdServer

pytestmark = pytest.mark.server


def test_slapd_serves_the_generated_people(slapd: SlapdServer) -> None:
    conn = Connection(
        Server(slapd.uri), slapd.admin_dn, slapd.admin_password, client_strategy=SAFE_SYNC, auto_bind=True
    )
    try:
        _, result, response, _ = conn.search(
            PEOPLE_DN, "(objectClass=inetOrgPerson)", SUBTREE, attributes=["uid"], paged_size=500
        )
        count = len(response)
        cookie = result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        while cookie:
            _, result, response, _ = conn.search(
                PEOPLE_DN,
                "(objectClass=inetOrgPerson)",
                SUBTREE,
                attributes=["uid"],
                paged_size=500,
                paged_cookie=cookie,
            )
            count += len(response)
            cookie = result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        assert count >= 1000 + len(KNOWN_PEOPLE)
        _, _, response, _ = conn.search(
            PEOPLE_DN,
            "(uid=zmuller)",
            attributes=["displayName", "sn", "ipPhone", "company", "department", "mobile"],
        )
        attrs = response[0]["attributes"]
        assert attrs["displayName"] == "Zoë Müller"
        assert attrs["ipPhone"] == ["2100"]
        assert attrs["company"] == "Example Corp"
    finally:
        conn.unbind()


def test_a_slapd_that_cannot_start_raises_with_its_log(tmp_path) -> None:
    server = SlapdServer(tmp_path, people=1)
    server.base_dn = "not a dn"
    with pytest.raises(ServerStartError) as failure:
        server.start(timeout=5)
    assert "slapadd failed" in str(failure.value) or "slapd did not start" in str(failure.value)
    assert "slapd.log" in str(failure.value)
    assert not server.alive
