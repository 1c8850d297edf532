"""Configuration: every mistake is refused with one message naming the key and what was expected."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from xmpp_component.config import ConfigError, Secret, documented_keys, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "conf" / "phonepresence.example.toml"
ENV = {"PHONEPRESENCE_COMPONENT_SECRET": "s3cret-value"}


def minimal(**component: object) -> dict[str, object]:
    return {"component": {"jid": "phone.example.org", **component}}


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(minimal(), ENV)
    assert config.component.server_port == 5347
    assert config.component.reconnect_min_delay == 1.0
    assert config.store.path == "phonepresence.sqlite"
    assert config.wazo.enabled is False
    assert config.wazo_password is None
    assert config.component_secret.reveal() == "s3cret-value"


def test_example_config_is_valid_and_documents_every_key() -> None:
    config = load_config(EXAMPLE, ENV)
    assert config.component.jid == "phone.example.org"
    document = tomllib.loads(EXAMPLE.read_text())
    for section, keys in documented_keys().items():
        table = document
        for part in section.split("."):  # [directory.ldap] is document["directory"]["ldap"]
            table = table[part]
        plain = {k for k in table if f"{section}.{k}" not in documented_keys()}
        assert plain == set(keys), f"example config out of date in [{section}]"
    lines = EXAMPLE.read_text().splitlines()
    for keys in documented_keys().values():
        for name in keys:
            index = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ="))
            while "=" in lines[index - 1] and not lines[index - 1].startswith("#"):
                index -= 1  # keys that share one comment block
            assert lines[index - 1].startswith("#"), f"{name} has no comment above it"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "component.jid: missing"),
        (minimal(server_port="5347"), "component.server_port: expected an integer, got '5347'"),
        (
            minimal(server_port=70000),
            "component.server_port: expected a TCP port between 1 and 65535, got 70000",
        ),
        (minimal(server_port=True), "component.server_port: expected an integer, got True"),
        (minimal(colour="blue"), "component.colour: unknown key"),
        ({**minimal(), "wazzo": {}}, "wazzo: unknown section"),
        ({"component": "phone.example.org"}, "component: expected a [component] table"),
        (minimal(jid="alice@phone.example.org"), "component.jid: expected a bare XMPP domain"),
        (minimal(admins="admin@example.org"), "component.admins: expected a list of strings"),
        (minimal(admins=["not a jid@@"]), "component.admins: expected a list of bare JIDs"),
        (minimal(reconnect_min_delay=0), "component.reconnect_min_delay: expected a number greater than 0"),
        (
            minimal(reconnect_min_delay=10.0, reconnect_max_delay=5.0),
            "component.reconnect_min_delay: expected at most component.reconnect_max_delay",
        ),
        (
            minimal(secret_env="1BAD-NAME"),
            "component.secret_env: expected the name of an environment variable",
        ),
        (
            {**minimal(), "wazo": {"base_url": "wazo.example.org"}},
            "wazo.base_url: expected an http:// or https://",
        ),
        ({**minimal(), "logging": {"level": "loud"}}, "logging.level: expected one of debug, info"),
        (minimal(keepalive_interval=0), "component.keepalive_interval: expected a number greater than 0"),
        (minimal(keepalive_timeout=-1.0), "component.keepalive_timeout: expected a number greater than 0"),
        (
            {**minimal(), "presence": {"max_revocation_share": 0}},
            "presence.max_revocation_share: expected a share greater than 0 and at most 1",
        ),
        (
            {**minimal(), "presence": {"max_revocation_share": 20}},
            "presence.max_revocation_share: expected a share greater than 0 and at most 1 (0.2 is 20 %), "
            "got 20",
        ),
        (
            {**minimal(), "wazo": {"token_expiration": 400000000}},
            "wazo.token_expiration: expected a number of seconds between 60 and 315360000",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_expectation(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as failure:
        parse_config(document, ENV)
    assert str(failure.value).startswith(message)


def test_missing_secret_names_the_variable_without_any_value() -> None:
    with pytest.raises(ConfigError) as failure:
        parse_config(minimal(), {})
    assert "component.secret_env: environment variable PHONEPRESENCE_COMPONENT_SECRET is not set" in str(
        failure.value
    )


def test_secret_read_from_file_when_variable_unset(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    config = parse_config(minimal(secret_file=str(secret_file)), {})
    assert config.component_secret.reveal() == "from-a-file"


def test_wazo_password_required_only_when_wazo_enabled() -> None:
    document = {**minimal(), "wazo": {"enabled": True}}
    with pytest.raises(ConfigError, match=r"^wazo.password_env: environment variable"):
        parse_config(document, ENV)
    config = parse_config(document, {**ENV, "PHONEPRESENCE_WAZO_PASSWORD": "wazo-pw"})
    assert config.wazo_password == Secret("wazo-pw")


def test_secrets_never_show_in_repr_or_str() -> None:
    config = parse_config(minimal(), ENV)
    assert "s3cret-value" not in repr(config)
    assert "s3cret-value" not in str(config.component_secret)
    assert "s3cret-value" not in f"{config.component_secret}"


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[component\njid = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken, ENV)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", ENV)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmpp_component.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or {"PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_cli_exits_2_with_one_clear_line_for_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[component]\njid = "phone.example.org"\nserver_port = "high"\n')
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "phonepresence: configuration error: component.server_port: expected an integer, got 'high'"
    )


def test_cli_exits_2_for_a_missing_file(tmp_path: Path) -> None:
    result = run_cli("run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_cli_check_config_accepts_the_example() -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE), env={"PATH": "/usr/bin:/bin", **ENV})
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_directory_ldap_section_is_nested_and_checked() -> None:
    ldap = {
        "enabled": True,
        "uris": ["ldap://127.0.0.1:3389"],
        "base_dn": "ou=people,dc=example,dc=test",
        "bind_dn": "cn=reader,dc=example,dc=test",
        "password_env": "LDAP_PW",
    }
    config = parse_config(
        {**minimal(), "directory": {"deadline": 1.5, "ldap": ldap}}, {**ENV, "LDAP_PW": "pw"}
    )
    assert config.directory.deadline == 1.5
    assert config.ldap.uris == ("ldap://127.0.0.1:3389",)
    assert config.ldap_password is not None
    assert config.ldap_password.reveal() == "pw"
    assert "pw" not in repr(config)
    with pytest.raises(ConfigError, match=r"directory.ldap.password_env: environment variable LDAP_PW"):
        parse_config({**minimal(), "directory": {"ldap": ldap}}, ENV)
    with pytest.raises(ConfigError, match=r"directory.ldap.uris: expected a list of ldap:// or ldaps://"):
        parse_config({**minimal(), "directory": {"ldap": {**ldap, "uris": ["http://x"]}}}, ENV)
    with pytest.raises(ConfigError, match=r"directory.ldap.colour: unknown key"):
        parse_config({**minimal(), "directory": {"ldap": {"colour": 1}}}, ENV)
    with pytest.raises(ConfigError, match=r"directory.ldap.object_filter: expected an LDAP filter"):
        parse_config({**minimal(), "directory": {"ldap": {"object_filter": "(a=b))("}}}, ENV)


def test_http_section_needs_a_public_url_and_a_long_enough_key() -> None:
    assert parse_config(minimal(), ENV).http.enabled is False
    assert parse_config(minimal(), ENV).http_link_key is None
    enabled = {**minimal(), "http": {"enabled": True, "public_base_url": "https://phone.example.org"}}
    with pytest.raises(
        ConfigError, match=re.escape("http.link_key_env: environment variable PHONEPRESENCE_HTTP_LINK_KEY")
    ):
        parse_config(enabled, ENV)
    with pytest.raises(ConfigError, match=re.escape("http.link_key: expected at least 16 characters")):
        parse_config(enabled, {**ENV, "PHONEPRESENCE_HTTP_LINK_KEY": "short"})
    config = parse_config(enabled, {**ENV, "PHONEPRESENCE_HTTP_LINK_KEY": "k" * 32})
    assert config.http.link_lifetime == 7 * 86400
    assert config.http_link_key is not None
    assert "k" * 32 not in repr(config)
    with pytest.raises(ConfigError, match=re.escape("http.public_base_url: missing")):
        parse_config(
            {**minimal(), "http": {"enabled": True}}, {**ENV, "PHONEPRESENCE_HTTP_LINK_KEY": "k" * 32}
        )
    with pytest.raises(ConfigError, match=re.escape("http.public_base_url: expected an http:// or https://")):
        parse_config({**minimal(), "http": {"public_base_url": "phone.example.org"}}, ENV)
    with pytest.raises(
        ConfigError, match=re.escape("http.link_lifetime: expected a number of seconds between 60")
    ):
        parse_config({**minimal(), "http": {"link_lifetime": 5}}, ENV)


def test_store_url_selects_postgresql_with_its_password_from_the_environment_or_a_file(
    tmp_path: Path,
) -> None:
    url = "postgresql://phonepresence@db.example.org:5432/phonepresence"
    config = parse_config({**minimal(), "store": {"url": url}}, ENV)
    assert config.store.url == url
    assert config.store_password is None  # ~/.pgpass or trust: PostgreSQL's own means
    config = parse_config({**minimal(), "store": {"url": url}}, {**ENV, "PHONEPRESENCE_STORE_PASSWORD": "pg"})
    assert config.store_password is not None
    assert config.store_password.reveal() == "pg"
    secret = tmp_path / "pg.secret"
    secret.write_text("from-file\n")
    config = parse_config({**minimal(), "store": {"url": url, "password_file": str(secret)}}, ENV)
    assert config.store_password is not None
    assert config.store_password.reveal() == "from-file"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://db.example.org/phonepresence", "a postgresql://user@host:port/database URL"),
        ("postgresql://db.example.org", "a postgresql://user@host:port/database URL"),
        ("postgresql://u:hunter2@db.example.org/p", "a URL without a password"),
    ],
)
def test_a_bad_store_url_is_refused_naming_the_key(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({**minimal(), "store": {"url": url}}, ENV)
    assert str(refused.value).startswith(f"store.url: expected {expected}")
    assert "hunter2" not in str(refused.value)


CALDAV_ENV = {**ENV, "PHONEPRESENCE_CALDAV_PASSWORD": "pw"}


def test_calendars_found_by_discovery_instead_of_a_url_template() -> None:
    config = parse_config(
        {**minimal(), "calendar": {"enabled": True, "server_url": "https://dav.example.org/"}}, CALDAV_ENV
    )
    assert config.calendar.server_url == "https://dav.example.org/"
    assert config.calendar.principal_name == "{localpart}"


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ({"enabled": True}, r"^calendar\.url_template: missing; expected it \(or calendar\.server_url"),
        (
            {"enabled": True, "url_template": "https://d/{localpart}/c/", "server_url": "https://d/"},
            r"^calendar\.server_url: expected either calendar\.url_template .* or calendar\.server_url",
        ),
        ({"server_url": "dav.example.org"}, r"^calendar\.server_url: expected an http\(s\) URL"),
        ({"principal_name": "{user}"}, r"^calendar\.principal_name: expected a name whose only placeholders"),
        ({"principal_name": "users/{localpart}"}, r"^calendar\.principal_name: expected a non-empty name"),
    ],
)
def test_discovery_settings_are_checked(calendar: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**minimal(), "calendar": calendar}, CALDAV_ENV)
