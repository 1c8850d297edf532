"""Logs: personal data masked unless allowed, secrets always, text or JSON lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from presence.sources.wazo.config import Secret
from xmpp_component.cli import log_secrets
from xmpp_component.config import ConfigError, parse_config
from xmpp_component.logs import mask_personal_data, setup_logging


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("alice@example.org calls 0123456789", "a***@example.org calls ********89"),
        (
            "origination for bob@example.org to +33612345678 refused: invalid-extension",
            "origination for b***@example.org to +*********78 refused: invalid-extension",
        ),
        ("Calling +33 1 23 45 67 89 now", "Calling +** * ** ** ** 89 now"),
        ("subscription from carol@other.test/Gajim.X1 to alice@phone.example.org",
         "subscription from c***@other.test/Gajim.X1 to a***@phone.example.org"),
        ("Wazo user 11111111-1111-4111-8111-111111111111 gets no phone JID: (email 'dave@elsewhere.test')",
         "Wazo user 11111111-1111-4111-8111-111111111111 gets no phone JID: (email 'd***@elsewhere.test')"),
        # not personal: extensions, call ids, ports, counts under six digits, the component's domain
        ("call 1700000000.12 to 1002 on 127.0.0.1:5347 (12345 users) phone.example.org",
         "call 1700000000.12 to 1002 on 127.0.0.1:5347 (12345 users) phone.example.org"),
    ],
)  # fmt: skip
def test_mask_personal_data(line: str, masked: str) -> None:
    assert mask_personal_data(line) == masked


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit() -> None:
    logging.getLogger("xmpp_component.commands.dialing").info(
        "%s calls %s", "alice@example.org", "0123456789"
    )
    logging.getLogger("presence.sources.wazo.auth").debug("password is %s", "s3cr3t-pw")


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_mask_personal_data_and_secrets_at_every_level(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("debug", [Secret("s3cr3t-pw")], "text", personal_data=False)
    _emit()
    err = capsys.readouterr().err
    assert " INFO xmpp_component.commands.dialing: a***@example.org calls ********89\n" in err
    assert "DEBUG presence.sources.wazo.auth: password is ***\n" in err
    assert "alice" not in err
    assert "0123456789" not in err


@pytest.mark.usefixtures("restore_logging")
def test_personal_data_true_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", [Secret("s3cr3t-pw")], "text", personal_data=True)
    _emit()
    assert "xmpp_component.commands.dialing: alice@example.org calls 0123456789\n" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("debug", [Secret("s3cr3t-pw")], "json", personal_data=False)
    _emit()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("phonepresence").exception("failed for %s", "bob@example.org")
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "xmpp_component.commands.dialing", "a***@example.org calls ********89"),
        ("DEBUG", "presence.sources.wazo.auth", "password is ***"),
        ("ERROR", "phonepresence", "failed for b***@example.org"),
    ]
    assert records[0]["time"].endswith("+00:00")
    assert records[2]["exception"].endswith("ValueError: boom")


def test_logging_keys_are_checked() -> None:
    env = {"PHONEPRESENCE_COMPONENT_SECRET": "s"}
    config = parse_config({"component": {"jid": "phone.example.org"}}, env)
    assert (config.logging.format, config.logging.personal_data) == ("text", False)
    with pytest.raises(ConfigError, match=r'^logging\.format: expected "text" or "json", got \'xml\''):
        parse_config({"component": {"jid": "phone.example.org"}, "logging": {"format": "xml"}}, env)


@pytest.mark.usefixtures("restore_logging")
def test_every_secret_of_the_configuration_is_masked_in_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    # What the CLI hands to the log set-up: each secret the configuration read, whichever section.
    env = {
        "PHONEPRESENCE_COMPONENT_SECRET": "component-secret-1",
        "PHONEPRESENCE_HTTP_LINK_KEY": "link-key-0123456789abcdef",
        "PHONEPRESENCE_LDAP_PASSWORD": "ldap-password-1",
        "PHONEPRESENCE_CARDDAV_PASSWORD": "carddav-password-1",
    }
    config = parse_config(
        {
            "component": {"jid": "phone.example.org"},
            "http": {"enabled": True, "public_base_url": "https://phone.example.org"},
            "directory": {
                "ldap": {
                    "enabled": True,
                    "uris": ["ldap://127.0.0.1"],
                    "base_dn": "dc=example,dc=org",
                    "bind_dn": "cn=reader,dc=example,dc=org",
                },
                "carddav": {
                    "enabled": True,
                    "company_url": "https://dav.example.org/company/",
                    "username": "reader",
                },
            },
        },
        env,
    )
    setup_logging("debug", log_secrets(config), "text", personal_data=True)
    for value in env.values():
        logging.getLogger("aiohttp.client").debug("sent %s", value)
    err = capsys.readouterr().err
    for value in env.values():
        assert value not in err
    assert err.count("sent ***") == len(env)
